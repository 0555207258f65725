"""/admin: the panel of buttons (every screen has Back), its payouts queue, its admins and
its audit log. The commands keep working as shortcuts (⌨️ Commands lists them)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message
from aiogram.types import InlineKeyboardMarkup as Markup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from magic_filter import MagicFilter

from bot.errors import N_, InvalidInput
from bot.services.admin_desk import AdminDesk
from bot.services.balance import BalanceService
from bot.services.conversions import ConversionService
from bot.services.inputs import tg_id
from bot.telegram.admin_text import audit_text, payout_line, who
from bot.telegram.commands import publish_admin_commands
from bot.telegram.notifier import Notifier
from bot.telegram.render import viewer_zone
from handlers.admin.states import PanelInput, ask_for
from handlers.common import show
from keyboards.admin import (
    admins_kb,
    back_kb,
    pages_kb,
    panel_kb,
    payouts_kb,
    to_pay_kb,
)
from keyboards.callbacks import AdminAction, AdminCallback
from models import Affiliate

QUEUE_SHOWN = 5


def on(action: AdminAction) -> CallbackQueryFilter:
    return AdminCallback.filter(F.action == action)


async def home(balance: BalanceService, conversions: ConversionService) -> tuple[str, Markup]:
    waiting = len(await balance.open_requests())
    held = len(await conversions.held_for_review())
    text = _(
        "🛠 <b>Admin panel</b>\n\nPick a section. The commands still work as shortcuts "
        "(⌨️ Commands lists them)."
    )
    return text, panel_kb(waiting, held)


async def cmd_admin(
    message: Message, balance: BalanceService, conversions: ConversionService, state: FSMContext
) -> None:
    await state.clear()
    text, markup = await home(balance, conversions)
    await message.answer(text, reply_markup=markup)


async def open_home(
    query: CallbackQuery,
    balance: BalanceService,
    conversions: ConversionService,
    state: FSMContext,
) -> None:
    await state.clear()
    text, markup = await home(balance, conversions)
    await show(query, text, markup)


async def open_commands(query: CallbackQuery) -> None:
    await show(query, commands_text() + "\n\n" + kinds_text(), back_kb())


def commands_text() -> str:
    return _(
        "<b>Admin commands</b>\n\n"
        "/offers: list every offer\n"
        "/offer_add KIND AMOUNT CURRENCY [URL] TITLE: create an offer "
        "(KIND is url, bot, app or channel; URL only for url, the channel id -100… "
        "for channel)\n"
        "/offer_edit ID FIELD VALUE: change title, url, payout (e.g. 2.50 EUR), kind, "
        "hold (days), revshare (%), second (% for the referrer), event (deposit=5.00), "
        "status (paid=approved), ips (1.2.3.4,10.0.0.0/8 or -), channel (-100…)\n"
        "/offer_on ID, /offer_off ID: enable or disable an offer\n"
        "/offer_postback ID: the postback URL, secret and token for the advertiser\n"
        "/offer_secret ID: a new signing secret (the old one works until the next)\n"
        "/rate TG_ID OFFER_ID payout AMOUNT | revshare PERCENT | clear\n"
        "/reviews, /review_ok ID, /review_no ID: conversions held for review\n"
        "/payouts, /payout_ok ID, /payout_no ID [reason]: payout requests\n"
        "/adjust TG_ID AMOUNT CURRENCY NOTE: a manual balance correction\n"
        "/race_new: create a race (a guided dialog), /races: list them\n"
        "/race_edit ID FIELD VALUE, /race_cancel ID, /race_end ID (end now)\n"
        "/timezone ZONE: the time zone your race times are read in\n\n"
        "Macros in a target URL: {click_id}, {sub}, {affiliate_id}, {offer_id}, {link_code}"
    )


def kinds_text() -> str:
    return _(
        "<b>Offer kinds</b>\n\n"
        "<b>url</b>: the affiliate's link sends visitors to the advertiser's URL; what "
        "counts is what the advertiser's postbacks report (sign-ups, deposits).\n"
        "<b>bot</b>: the link opens this bot with the affiliate's code; every new person "
        "who starts the bot through it is a referral, and postbacks add conversions.\n"
        "<b>app</b>: the same, but the link opens the Mini App.\n"
        "<b>channel</b>: each affiliate gets an own invite link to a Telegram channel "
        "(the bot must be an admin there); every join through it counts."
    )


# -- payouts -------------------------------------------------------------------------------


async def payouts_screen(balance: BalanceService, locale: str) -> tuple[str, list[int], int]:
    queue = await balance.open_requests()
    to_pay = len(await balance.approved_unpaid())
    if not queue:
        return _("💸 <b>Payouts</b>\n\nNo payout requests are waiting."), [], to_pay
    lines = []
    for p in queue[:QUEUE_SHOWN]:
        held = {b.currency: b.available_minor for b in await balance.balances(p.affiliate_id)}
        lines.append(payout_line(p, held.get(p.currency, 0), locale))
    head = _("💸 <b>Payouts</b>: {count} waiting, oldest first").format(count=len(queue))
    return head + "\n\n" + "\n\n".join(lines), [p.id for p in queue[:QUEUE_SHOWN]], to_pay


async def open_payouts(
    query: CallbackQuery, balance: BalanceService, i18n: I18n, state: FSMContext
) -> None:
    await state.clear()
    text, ids, to_pay = await payouts_screen(balance, i18n.current_locale)
    await show(query, text, payouts_kb(ids, to_pay))


async def approve_payout(
    query: CallbackQuery,
    callback_data: AdminCallback,
    user: Affiliate,
    desk: AdminDesk,
    notifier: Notifier,
    balance: BalanceService,
    i18n: I18n,
) -> None:
    payout = await desk.decide_payout(user, callback_data.id, approve=True)
    await notifier.payout_decided(payout)
    text, ids, to_pay = await payouts_screen(balance, i18n.current_locale)
    done = _("✅ Payout #{id} approved; the affiliate is told.").format(id=payout.id)
    await show(query, done + "\n\n" + text, payouts_kb(ids, to_pay))


async def ask_reject_reason(
    query: CallbackQuery, callback_data: AdminCallback, state: FSMContext
) -> None:
    text = _(
        "❌ Why is payout #{id} rejected? Send the reason: the affiliate sees it, and the money "
        "goes back to their balance."
    ).format(id=callback_data.id)
    await ask_for(
        query, state, PanelInput.reject_reason, callback_data.id, text, AdminAction.PAYOUTS
    )


async def reject_payout(
    message: Message,
    state: FSMContext,
    user: Affiliate,
    desk: AdminDesk,
    notifier: Notifier,
    balance: BalanceService,
    i18n: I18n,
) -> None:
    payout_id = int((await state.get_data())["id"])
    payout = await desk.decide_payout(user, payout_id, False, message.text or "")
    await state.clear()  # after it worked: a refusal leaves the question open (or Cancel)
    await notifier.payout_decided(payout)
    text, ids, to_pay = await payouts_screen(balance, i18n.current_locale)
    done = _("❌ Payout #{id} rejected; the money is back and the affiliate is told.").format(
        id=payout.id
    )
    await message.answer(done + "\n\n" + text, reply_markup=payouts_kb(ids, to_pay))


async def open_to_pay(query: CallbackQuery, balance: BalanceService, i18n: I18n) -> None:
    approved = await balance.approved_unpaid()
    if not approved:
        await show(
            query, _("📤 Nothing approved is waiting to be paid."), back_kb(AdminAction.PAYOUTS)
        )
        return
    lines = [payout_line(p, 0, i18n.current_locale).split("\n")[0] for p in approved[:10]]
    head = _("📤 <b>Approved, to pay</b>: mark each one paid once the money is sent.")
    await show(query, head + "\n\n" + "\n".join(lines), to_pay_kb([p.id for p in approved[:10]]))


async def ask_reference(
    query: CallbackQuery, callback_data: AdminCallback, state: FSMContext
) -> None:
    text = _(
        "💸 Send the reference of the transfer for payout #{id} (a transaction id, a receipt "
        "number): the affiliate sees it."
    ).format(id=callback_data.id)
    await ask_for(
        query, state, PanelInput.paid_reference, callback_data.id, text, AdminAction.TO_PAY
    )


async def mark_paid(
    message: Message, state: FSMContext, user: Affiliate, desk: AdminDesk, notifier: Notifier
) -> None:
    payout_id = int((await state.get_data())["id"])
    payout = await desk.mark_paid(user, payout_id, message.text or "")
    await state.clear()
    await notifier.payout_paid(payout)
    await message.answer(
        _("💸 Payout #{id} is marked paid; the affiliate is told.").format(id=payout.id),
        reply_markup=back_kb(AdminAction.PAYOUTS),
    )


# -- admins --------------------------------------------------------------------------------


async def admins_screen(desk: AdminDesk, me: Affiliate) -> tuple[str, list[tuple[int, str]]]:
    lines, removable = [], []
    for tg, known in await desk.admins():
        name = who(known) if known else _("id {id} (has not started the bot)").format(id=tg)
        if tg in desk.admin_ids:
            lines.append(f"🔒 {name}")
        else:
            lines.append(f"🛡 {name}")
            if tg != me.tg_id and known is not None:
                removable.append((tg, known.display_name))
    head = _(
        "🛡 <b>Admins</b>\n🔒 from the configuration (ADMIN_IDS, changed only there), "
        "🛡 promoted here."
    )
    return head + "\n\n" + "\n".join(lines), removable


async def open_admins(
    query: CallbackQuery, desk: AdminDesk, user: Affiliate, state: FSMContext
) -> None:
    await state.clear()
    text, removable = await admins_screen(desk, user)
    await show(query, text, admins_kb(removable))


async def ask_promote(query: CallbackQuery, state: FSMContext) -> None:
    text = _(
        "➕ Send the Telegram id of the new admin. They must have started the bot; they get "
        "the admin panel and the admin commands."
    )
    await ask_for(query, state, PanelInput.promote, 0, text, AdminAction.ADMINS)


async def promote(
    message: Message, state: FSMContext, user: Affiliate, desk: AdminDesk, bot: Bot, i18n: I18n
) -> None:
    target = tg_id(message.text or "")
    if target is None:
        raise InvalidInput(N_("A Telegram id is a number, e.g. 123456789."))
    person = await desk.promote(user, target)
    await state.clear()
    await publish_admin_commands(bot, i18n, target, is_admin=True)
    text, removable = await admins_screen(desk, user)
    done = _("🛡 {who} is now an admin.").format(who=who(person))
    await message.answer(done + "\n\n" + text, reply_markup=admins_kb(removable))


async def demote(
    query: CallbackQuery,
    callback_data: AdminCallback,
    user: Affiliate,
    desk: AdminDesk,
    bot: Bot,
    i18n: I18n,
) -> None:
    person = await desk.demote(user, callback_data.id)
    await publish_admin_commands(bot, i18n, person.tg_id, is_admin=False)
    text, removable = await admins_screen(desk, user)
    done = _("➖ {who} is no longer an admin.").format(who=who(person))
    await show(query, done + "\n\n" + text, admins_kb(removable))


# -- audit ---------------------------------------------------------------------------------


async def open_audit(
    query: CallbackQuery,
    callback_data: AdminCallback,
    desk: AdminDesk,
    user: Affiliate,
    i18n: I18n,
) -> None:
    lines, more = await desk.audit.page(callback_data.page)
    text = audit_text(lines, callback_data.page, viewer_zone(user.timezone), i18n.current_locale)
    await show(query, text, pages_kb(AdminAction.AUDIT, callback_data.page, more))


def typed(state: State) -> tuple[State, MagicFilter, MagicFilter]:
    """A text the panel asked for (a command typed meanwhile goes to its own handler)."""
    return (state, F.text, ~F.text.startswith("/"))


def router() -> Router:
    """The panel's navigation, payouts, admins and audit (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.message.register(cmd_admin, Command("admin"))
    r.callback_query.register(open_home, on(AdminAction.HOME))
    r.callback_query.register(open_commands, on(AdminAction.COMMANDS))
    r.callback_query.register(open_payouts, on(AdminAction.PAYOUTS))
    r.callback_query.register(approve_payout, on(AdminAction.PAY_OK))
    r.callback_query.register(ask_reject_reason, on(AdminAction.PAY_NO))
    r.message.register(reject_payout, *typed(PanelInput.reject_reason))
    r.callback_query.register(open_to_pay, on(AdminAction.TO_PAY))
    r.callback_query.register(ask_reference, on(AdminAction.PAID))
    r.message.register(mark_paid, *typed(PanelInput.paid_reference))
    r.callback_query.register(open_admins, on(AdminAction.ADMINS))
    r.callback_query.register(ask_promote, on(AdminAction.PROMOTE))
    r.message.register(promote, *typed(PanelInput.promote))
    r.callback_query.register(demote, on(AdminAction.DEMOTE))
    r.callback_query.register(open_audit, on(AdminAction.AUDIT))
    return r
