"""The panel's Offers, Reviews and Races: the lists with their numbers and a button for each
action. Destructive actions (a new secret, a rejection, ending or cancelling a race) ask
first through the very command handlers they shortcut, so what runs is what was asked."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from aiogram import F, Router
from aiogram.filters import CommandObject
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.errors import N_, InvalidInput
from bot.live import RaceFeed
from bot.services.admin_desk import AdminDesk
from bot.services.amounts import format_money
from bot.services.conversions import ConversionService
from bot.services.offers import OfferService
from bot.services.postback_test import example_url
from bot.services.races import RaceService
from bot.services.stats import Period, StatsService
from bot.telegram.render import metric_name, person, review_reason, status_line
from handlers.admin import money as money_commands
from handlers.admin import offer_form
from handlers.admin import offers as offer_commands
from handlers.admin import races as race_commands
from handlers.admin.parsing import parse_offer_edit
from handlers.admin.states import PanelInput
from handlers.common import show
from keyboards.admin import (
    OFFER_FIELDS,
    cancel_kb,
    offer_kb,
    offers_kb,
    races_kb,
    reviews_kb,
)
from keyboards.callbacks import AdminAction, AdminCallback
from models import Affiliate, RaceStatus


def on(action: AdminAction) -> CallbackQueryFilter:
    return AdminCallback.filter(F.action == action)


def as_command(name: str, target: int) -> CommandObject:
    return CommandObject(prefix="/", command=name, args=str(target))


def bot_message(query: CallbackQuery) -> Message:
    """The panel message a button sits on. Telegram sends a message older than 48 hours as
    inaccessible (and none for an inline message): such a button is out of date."""
    if not isinstance(query.message, Message):
        raise InvalidInput(N_("This button is out of date. Open /admin for a fresh one."))
    return query.message


# -- offers --------------------------------------------------------------------------------


async def open_offers(
    query: CallbackQuery, offers: OfferService, stats: StatsService, i18n: I18n
) -> None:
    items = await offers.list()
    today = {row.label: row for row in (await stats.report(None, Period.TODAY)).offers}
    lines, buttons = [], []
    for o in items:
        row = today.get(o.title)
        numbers = _("today: {clicks} clicks, {conversions} conversions").format(
            clicks=row.clicks if row else 0, conversions=row.conversions if row else 0
        )
        lines.append(f"{offer_commands.offer_line(o, i18n.current_locale)}\n    {numbers}")
        buttons.append((o.id, f"{'🟢' if o.is_active else '⚪️'} #{o.id} {o.title}"))
    text = _("🎯 <b>Offers</b>") + "\n\n" + ("\n".join(lines) or _("No offers yet."))
    text += "\n\n" + _(
        "➕ New offer opens a guided dialog (or /offer_new; /offer_add in one line)."
    )
    await show(query, text, offers_kb(buttons))


async def open_offer(
    query: CallbackQuery, callback_data: AdminCallback, offers: OfferService, i18n: I18n
) -> None:
    offer = await offers.get(callback_data.id)
    locale = i18n.current_locale
    details = _(
        "Hold: {hold} days · RevShare: {revshare}% · second level: {second}%\nIP allow-list: {ips}"
    ).format(
        hold=offer.hold_days,
        revshare=offer.revshare_bp / 100,
        second=offer.second_level_bp / 100,
        ips=escape(offer.ip_allowlist) or _("any"),
    )
    text = offer_commands.offer_line(offer, locale) + "\n\n" + details
    await show(query, text, offer_kb(offer.id, offer.is_active))


async def toggle_offer(
    query: CallbackQuery,
    callback_data: AdminCallback,
    offers: OfferService,
    desk: AdminDesk,
    user: Affiliate,
    i18n: I18n,
) -> None:
    before = await offers.get(callback_data.id)
    await desk.set_offer_active(user, before.id, not before.is_active)  # audited
    await open_offer(query, callback_data, offers, i18n)


async def ask_offer_field(
    query: CallbackQuery, callback_data: AdminCallback, offers: OfferService, state: FSMContext
) -> None:
    offer = await offers.get(callback_data.id)
    field = OFFER_FIELDS[min(max(callback_data.page, 1), len(OFFER_FIELDS)) - 1]
    await state.set_state(PanelInput.offer_field)
    await state.update_data(id=offer.id, field=field)
    text = _(
        "✏️ Offer #{id} «{title}»: send the new <b>{field}</b>, as /offer_edit takes it "
        "(e.g. payout 2.50, hold 14, revshare 10, event deposit=5.00, status paid=approved, "
        "ips 203.0.113.0/24 or -)."
    ).format(id=offer.id, title=escape(offer.title), field=field)
    await show(query, text, cancel_kb(AdminAction.OFFERS))


async def take_offer_field(
    message: Message,
    state: FSMContext,
    offers: OfferService,
    desk: AdminDesk,
    user: Affiliate,
    i18n: I18n,
) -> None:
    data = await state.get_data()
    before = await offers.get(int(data["id"]))
    patch = parse_offer_edit(data["field"], message.text or "", before)
    offer = await desk.edit_offer(user, before.id, patch)  # audited
    await state.clear()
    text = _("✅ Offer updated:") + "\n" + offer_commands.offer_line(offer, i18n.current_locale)
    await message.answer(text, reply_markup=offer_kb(offer.id, offer.is_active))


async def new_offer(query: CallbackQuery, state: FSMContext) -> None:
    await offer_form.OFFER_FORM.begin(bot_message(query), state, {}, {})
    await query.answer()


async def offer_postback(
    query: CallbackQuery,
    callback_data: AdminCallback,
    offers: OfferService,
    settings: Settings,
    user: Affiliate,
) -> None:
    offer = await offers.get(callback_data.id)
    example = await example_url(offer, user, settings.PUBLIC_URL)
    text = offer_commands.postback_text(offer, settings.PUBLIC_URL, example)
    await bot_message(query).answer(text)
    await query.answer()


async def rotate_secret(
    query: CallbackQuery,
    callback_data: AdminCallback,
    offers: OfferService,
    settings: Settings,
    state: FSMContext,
    desk: AdminDesk,
    user: Affiliate,
) -> None:
    await offer_commands.cmd_offer_postback(
        bot_message(query),
        as_command("offer_secret", callback_data.id),
        offers,
        settings,
        state,
        desk,
        user,
    )
    await query.answer()


# -- reviews -------------------------------------------------------------------------------


async def open_reviews(
    query: CallbackQuery, conversions: ConversionService, i18n: I18n, state: FSMContext
) -> None:
    await state.clear()
    held = await conversions.held_for_review(limit=8)
    if not held:
        await show(
            query, _("🔎 <b>Reviews</b>\n\nNo conversions are waiting for review."), reviews_kb([])
        )
        return
    lines = [
        f"<b>#{c.id}</b> · {escape(c.offer.title)} · "
        f"{person(c.affiliate.display_name, c.affiliate.username, c.affiliate.tg_id)} · "
        f"{format_money(c.commission_minor, c.currency, i18n.current_locale)}\n"
        f"    {review_reason(c.review_reason or '')}"
        for c in held
    ]
    head = _("🔎 <b>Reviews</b>: conversions held, oldest first. ✅ counts it, ❌ rejects it.")
    await show(query, head + "\n\n" + "\n".join(lines), reviews_kb([c.id for c in held]))


async def review(
    query: CallbackQuery,
    callback_data: AdminCallback,
    conversions: ConversionService,
    state: FSMContext,
    desk: AdminDesk,
    user: Affiliate,
    i18n: I18n,
) -> None:
    name = "review_ok" if callback_data.action is AdminAction.REVIEW_OK else "review_no"
    await money_commands.cmd_review(
        bot_message(query), as_command(name, callback_data.id), conversions, state, desk, user
    )
    if name == "review_ok":
        await open_reviews(query, conversions, i18n, state)
    else:
        await query.answer()


# -- races ---------------------------------------------------------------------------------


async def open_races(
    query: CallbackQuery, races: RaceService, user: Affiliate, i18n: I18n
) -> None:
    items = await races.all_races()
    now = datetime.now(UTC)
    lines, rows = [], []
    for r in items[:10]:
        status = status_line(r, now, user.timezone, i18n.current_locale)
        lines.append(f"#{r.id} <b>{escape(r.title)}</b> · {metric_name(r.metric)}\n    {status}")
        open_ = r.status in (RaceStatus.DRAFT, RaceStatus.SCHEDULED, RaceStatus.RUNNING)
        rows.append((r.id, r.status is RaceStatus.RUNNING, open_))
    text = _("🏁 <b>Races</b>") + "\n\n" + ("\n".join(lines) or _("No races yet."))
    text += "\n\n" + _("A new race: /race_new (a guided dialog).")
    await show(query, text, races_kb(rows))


async def end_or_cancel(
    query: CallbackQuery,
    callback_data: AdminCallback,
    races: RaceService,
    state: FSMContext,
    feed: RaceFeed,
    desk: AdminDesk,
    user: Affiliate,
) -> None:
    message = bot_message(query)
    if callback_data.action is AdminAction.RACE_END:
        await race_commands.cmd_race_end(
            message, as_command("race_end", callback_data.id), races, state, feed, desk, user
        )
    else:
        await race_commands.cmd_race_cancel(
            message, as_command("race_cancel", callback_data.id), races, state, feed, desk, user
        )
    await query.answer()


def router() -> Router:
    """The panel's Offers, Reviews and Races (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.callback_query.register(open_offers, on(AdminAction.OFFERS))
    r.callback_query.register(open_offer, on(AdminAction.OFFER))
    r.callback_query.register(toggle_offer, on(AdminAction.OFFER_TOGGLE))
    r.callback_query.register(offer_postback, on(AdminAction.OFFER_POSTBACK))
    r.callback_query.register(new_offer, on(AdminAction.OFFER_NEW))
    r.callback_query.register(ask_offer_field, on(AdminAction.OFFER_EDIT))
    r.message.register(take_offer_field, PanelInput.offer_field, F.text, ~F.text.startswith("/"))
    r.callback_query.register(rotate_secret, on(AdminAction.OFFER_ROTATE))
    r.callback_query.register(open_reviews, on(AdminAction.REVIEWS))
    r.callback_query.register(review, on(AdminAction.REVIEW_OK))
    r.callback_query.register(review, on(AdminAction.REVIEW_NO))
    r.callback_query.register(open_races, on(AdminAction.RACES))
    r.callback_query.register(end_or_cancel, on(AdminAction.RACE_END))
    r.callback_query.register(end_or_cancel, on(AdminAction.RACE_CANCEL))
    return r
