"""The admin panel's keyboards: pure builders over AdminCallback (keyboards/callbacks.py)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import AdminAction, AdminCallback


def _cb(action: AdminAction, id_: int = 0, page: int = 0) -> str:
    return AdminCallback(action=action, id=id_, page=page).pack()


def _back(kb: InlineKeyboardBuilder, to: AdminAction = AdminAction.HOME) -> None:
    kb.button(text=_("⬅️ Back"), callback_data=_cb(to))


def panel_kb(open_payouts: int, held: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🎯 Offers"), callback_data=_cb(AdminAction.OFFERS))
    kb.button(text=_("🏁 Races"), callback_data=_cb(AdminAction.RACES))
    kb.button(text=_("👥 Affiliates"), callback_data=_cb(AdminAction.AFFILIATES))
    payouts = _("💸 Payouts") + (f" ({open_payouts})" if open_payouts else "")
    kb.button(text=payouts, callback_data=_cb(AdminAction.PAYOUTS))
    reviews = _("🔎 Reviews") + (f" ({held})" if held else "")
    kb.button(text=reviews, callback_data=_cb(AdminAction.REVIEWS))
    kb.button(text=_("📬 Postbacks"), callback_data=_cb(AdminAction.POSTBACKS))
    kb.button(text=_("📈 Stats"), callback_data=_cb(AdminAction.STATS))
    kb.button(text=_("📣 Broadcast"), callback_data=_cb(AdminAction.BROADCAST))
    kb.button(text=_("📤 Export"), callback_data=_cb(AdminAction.EXPORT))
    kb.button(text=_("📜 Audit"), callback_data=_cb(AdminAction.AUDIT))
    kb.button(text=_("🛡 Admins"), callback_data=_cb(AdminAction.ADMINS))
    kb.button(text=_("⌨️ Commands"), callback_data=_cb(AdminAction.COMMANDS))
    kb.adjust(2)
    return kb.as_markup()


def back_kb(to: AdminAction = AdminAction.HOME) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    _back(kb, to)
    return kb.as_markup()


def payouts_kb(ids: list[int], to_pay: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for payout_id in ids:
        kb.button(
            text=_("✅ #{id}").format(id=payout_id),
            callback_data=_cb(AdminAction.PAY_OK, payout_id),
        )
        kb.button(
            text=_("❌ #{id}").format(id=payout_id),
            callback_data=_cb(AdminAction.PAY_NO, payout_id),
        )
    sizes = [2] * len(ids)
    if to_pay:
        kb.button(
            text=_("📤 Approved, to pay ({count})").format(count=to_pay),
            callback_data=_cb(AdminAction.TO_PAY),
        )
        sizes.append(1)
    _back(kb)
    kb.adjust(*sizes, 1)
    return kb.as_markup()


def to_pay_kb(ids: list[int]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for payout_id in ids:
        kb.button(
            text=_("💸 Mark #{id} paid").format(id=payout_id),
            callback_data=_cb(AdminAction.PAID, payout_id),
        )
    _back(kb, AdminAction.PAYOUTS)
    kb.adjust(1)
    return kb.as_markup()


def found_kb(people: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for affiliate_id, label in people:
        kb.button(text=label, callback_data=_cb(AdminAction.CARD, affiliate_id))
    _back(kb)
    kb.adjust(1)
    return kb.as_markup()


def card_kb(affiliate_id: int, banned: bool, can_ban: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if banned:
        kb.button(text=_("✅ Unban"), callback_data=_cb(AdminAction.UNBAN, affiliate_id))
    elif can_ban:
        kb.button(text=_("⛔ Ban"), callback_data=_cb(AdminAction.BAN, affiliate_id))
    kb.button(text=_("🔗 Set the referrer"), callback_data=_cb(AdminAction.REFERRER, affiliate_id))
    kb.button(text=_("💲 Own rate"), callback_data=_cb(AdminAction.RATE, affiliate_id))
    kb.button(text=_("🔍 Find someone else"), callback_data=_cb(AdminAction.AFFILIATES))
    _back(kb)
    kb.adjust(1, 2, 1, 1)
    return kb.as_markup()


def admins_kb(removable: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for tg_id, name in removable:
        kb.button(
            text=_("➖ Remove {name}").format(name=name),
            callback_data=_cb(AdminAction.DEMOTE, tg_id),
        )
    kb.button(text=_("➕ Add an admin"), callback_data=_cb(AdminAction.PROMOTE))
    _back(kb)
    kb.adjust(1)
    return kb.as_markup()


def pages_kb(
    action: AdminAction, page: int, more: bool, back: AdminAction = AdminAction.HOME, id_: int = 0
) -> InlineKeyboardMarkup:
    """Newer / Older for a log read newest first, and Back."""
    kb = InlineKeyboardBuilder()
    sizes = []
    if page > 0:
        kb.button(text=_("◀️ Newer"), callback_data=_cb(action, id_, page - 1))
    if more:
        kb.button(text=_("Older ▶️"), callback_data=_cb(action, id_, page + 1))
    sizes.append((page > 0) + more)
    _back(kb, back)
    kb.adjust(*[s for s in sizes if s], 1)
    return kb.as_markup()


def cancel_kb(to: AdminAction) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✖️ Cancel"), callback_data=_cb(to))
    return kb.as_markup()


def postback_offers_kb(offers: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One button per offer's log; id 0 is the bucket of postbacks to unknown offers."""
    kb = InlineKeyboardBuilder()
    for offer_id, label in offers:
        kb.button(text=label, callback_data=_cb(AdminAction.POSTBACK_LOG, offer_id))
    _back(kb)
    kb.adjust(1)
    return kb.as_markup()


def postback_log_kb(offer_id: int, page: int, more: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    sizes = []
    if offer_id:
        kb.button(
            text=_("🧪 Send a test postback"), callback_data=_cb(AdminAction.TEST_FIRE, offer_id)
        )
        sizes.append(1)
    pager = 0
    if page > 0:
        kb.button(
            text=_("◀️ Newer"), callback_data=_cb(AdminAction.POSTBACK_LOG, offer_id, page - 1)
        )
        pager += 1
    if more:
        kb.button(
            text=_("Older ▶️"), callback_data=_cb(AdminAction.POSTBACK_LOG, offer_id, page + 1)
        )
        pager += 1
    if pager:
        sizes.append(pager)
    _back(kb, AdminAction.POSTBACKS)
    kb.adjust(*sizes, 1)
    return kb.as_markup()


def offers_kb(offers: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for offer_id, label in offers:
        kb.button(text=label, callback_data=_cb(AdminAction.OFFER, offer_id))
    kb.button(text=_("➕ New offer"), callback_data=_cb(AdminAction.OFFER_NEW))
    _back(kb)
    kb.adjust(1)
    return kb.as_markup()


def offer_kb(offer_id: int, active: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    toggle = _("⏸ Disable") if active else _("▶️ Enable")
    kb.button(text=toggle, callback_data=_cb(AdminAction.OFFER_TOGGLE, offer_id))
    kb.button(text=_("🔗 Postback URL"), callback_data=_cb(AdminAction.OFFER_POSTBACK, offer_id))
    kb.button(text=_("🔑 New secret"), callback_data=_cb(AdminAction.OFFER_ROTATE, offer_id))
    kb.button(text=_("📬 Its postbacks"), callback_data=_cb(AdminAction.POSTBACK_LOG, offer_id))
    for i, field in enumerate(OFFER_FIELDS):
        kb.button(text="✏️ " + field, callback_data=_cb(AdminAction.OFFER_EDIT, offer_id, i + 1))
    _back(kb, AdminAction.OFFERS)
    kb.adjust(2, 2, 3, 3, 3, 1)
    return kb.as_markup()


# What an offer's screen edits (as /offer_edit's FIELD): page 1..n of OFFER_EDIT.
OFFER_FIELDS = ("title", "url", "payout", "hold", "revshare", "second", "ips", "event", "status")


def reviews_kb(ids: list[int]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for conversion_id in ids:
        kb.button(
            text=_("✅ #{id}").format(id=conversion_id),
            callback_data=_cb(AdminAction.REVIEW_OK, conversion_id),
        )
        kb.button(
            text=_("❌ #{id}").format(id=conversion_id),
            callback_data=_cb(AdminAction.REVIEW_NO, conversion_id),
        )
    _back(kb)
    kb.adjust(*([2] * len(ids)), 1)
    return kb.as_markup()


def races_kb(races: list[tuple[int, bool, bool]]) -> InlineKeyboardMarkup:
    """(race id, can be ended now, can be cancelled) for each race shown."""
    kb = InlineKeyboardBuilder()
    sizes = []
    for race_id, endable, cancellable in races:
        row = 0
        if endable:
            kb.button(
                text=_("🏁 End #{id}").format(id=race_id),
                callback_data=_cb(AdminAction.RACE_END, race_id),
            )
            row += 1
        if cancellable:
            kb.button(
                text=_("🗑 Cancel #{id}").format(id=race_id),
                callback_data=_cb(AdminAction.RACE_CANCEL, race_id),
            )
            row += 1
        if row:
            sizes.append(row)
    _back(kb)
    kb.adjust(*sizes, 1)
    return kb.as_markup()


def programme_kb(picked: int, periods: list[str]) -> InlineKeyboardMarkup:
    """Today / 7 days / 30 days (the picked one marked), the chart of it, and Back."""
    kb = InlineKeyboardBuilder()
    for i, name in enumerate(periods):
        kb.button(
            text=("• " + name) if i == picked else name, callback_data=_cb(AdminAction.STATS, i)
        )
    kb.button(text=_("📈 Chart"), callback_data=_cb(AdminAction.STATS_CHART, picked))
    _back(kb)
    kb.adjust(len(periods), 1, 1)
    return kb.as_markup()


# Audiences as buttons: (AdminAction.BC_AUDIENCE id, page) = (audience index, argument index).
ACTIVE_DAYS = (7, 30)


def buttons_step_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("⏭ No buttons"), callback_data=_cb(AdminAction.BC_SKIP))
    kb.button(text=_("✖️ Cancel"), callback_data=_cb(AdminAction.HOME))
    kb.adjust(1)
    return kb.as_markup()


def audience_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("👥 Everyone"), callback_data=_cb(AdminAction.BC_AUDIENCE, 0))
    for i, days in enumerate(ACTIVE_DAYS):
        kb.button(
            text=_("🟢 Active in {days} days").format(days=days),
            callback_data=_cb(AdminAction.BC_AUDIENCE, 1, i),
        )
    kb.button(text="🇬🇧 English", callback_data=_cb(AdminAction.BC_AUDIENCE, 3, 0))
    kb.button(text="🇷🇺 Русский", callback_data=_cb(AdminAction.BC_AUDIENCE, 3, 1))
    kb.button(text=_("🏁 A race's participants"), callback_data=_cb(AdminAction.BC_RACES))
    kb.button(text=_("✖️ Cancel"), callback_data=_cb(AdminAction.HOME))
    kb.adjust(1, 2, 2, 1, 1)
    return kb.as_markup()


def race_pick_kb(races: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for race_id, title in races:
        kb.button(text=title, callback_data=_cb(AdminAction.BC_AUDIENCE, 2, race_id))
    kb.button(text=_("✖️ Cancel"), callback_data=_cb(AdminAction.HOME))
    kb.adjust(1)
    return kb.as_markup()


def send_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✅ Send it"), callback_data=_cb(AdminAction.BC_SEND))
    kb.button(text=_("✖️ Cancel"), callback_data=_cb(AdminAction.HOME))
    kb.adjust(2)
    return kb.as_markup()


def url_buttons(rows: list[list[str]]) -> InlineKeyboardMarkup | None:
    """A broadcast's own URL buttons, as its recipients see them."""
    if not rows:
        return None
    kb = InlineKeyboardBuilder()
    for text, url in rows:
        kb.button(text=text, url=url)
    kb.adjust(1)
    return kb.as_markup()


def export_kb(kinds: list[str]) -> InlineKeyboardMarkup:
    """One button per export (its index in bot.services.exports.ExportKind), and Back."""
    kb = InlineKeyboardBuilder()
    for i, label in enumerate(kinds):
        kb.button(text=label, callback_data=_cb(AdminAction.EXPORT_KIND, i))
    _back(kb)
    kb.adjust(2, 2, 2, 1)
    return kb.as_markup()
