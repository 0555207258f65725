"""The panel's Affiliates: find someone, their card, ban (with a reason they are told) and
unban."""

from __future__ import annotations

import time

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.services.admin_desk import AdminDesk
from bot.services.offers import OfferService
from bot.telegram.admin_text import card_text, who
from bot.telegram.notifier import Notifier
from bot.telegram.render import viewer_zone
from handlers.admin.parsing import parse_rate_change, parse_rate_target
from handlers.admin.states import PanelInput, ask_for
from handlers.common import show
from keyboards.admin import cancel_kb, card_kb, found_kb
from keyboards.callbacks import AdminAction, AdminCallback
from models import Affiliate


async def ask_find(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(PanelInput.find)
    text = _(
        "👥 <b>Affiliates</b>\n\nSend a Telegram id, an @username, a part of a name or a link "
        "code to look someone up."
    )
    await show(query, text, cancel_kb(AdminAction.HOME))


async def card_message(
    desk: AdminDesk, affiliate_id: int, me: Affiliate, i18n: I18n
) -> tuple[str, InlineKeyboardMarkup]:
    card = await desk.card(affiliate_id)
    text = card_text(card, viewer_zone(me.timezone), i18n.current_locale)
    can_ban = not desk.is_admin(card.affiliate)
    return text, card_kb(card.affiliate.id, card.affiliate.is_banned, can_ban)


async def found(
    message: Message, state: FSMContext, user: Affiliate, desk: AdminDesk, i18n: I18n
) -> None:
    people = await desk.find(message.text or "")
    if len(people) == 1:
        await state.clear()
        text, markup = await card_message(desk, people[0].id, user, i18n)
        await message.answer(text, reply_markup=markup)
        return
    if not people:
        await message.answer(
            _("Nobody matches. Try a Telegram id, an @username or a link code."),
            reply_markup=cancel_kb(AdminAction.HOME),
        )
        return
    await state.clear()
    await message.answer(
        _("{count} match (the first ten):").format(count=len(people)),
        reply_markup=found_kb([(p.id, f"{p.display_name} · id {p.tg_id}") for p in people]),
    )


async def open_card(
    query: CallbackQuery,
    callback_data: AdminCallback,
    user: Affiliate,
    desk: AdminDesk,
    i18n: I18n,
    state: FSMContext,
) -> None:
    await state.clear()
    text, markup = await card_message(desk, callback_data.id, user, i18n)
    await show(query, text, markup)


async def ask_ban_reason(
    query: CallbackQuery, callback_data: AdminCallback, desk: AdminDesk, state: FSMContext
) -> None:
    person = (await desk.card(callback_data.id)).affiliate
    text = _(
        "⛔ Ban {who}? Their links stop counting (a click still reaches the advertiser), their "
        "postbacks are refused and the bot serves them nothing.\n\nSend the reason: they are "
        "told it."
    ).format(who=who(person))
    await ask_for(query, state, PanelInput.ban_reason, person.id, text)


async def ban(
    message: Message,
    state: FSMContext,
    user: Affiliate,
    desk: AdminDesk,
    notifier: Notifier,
    i18n: I18n,
) -> None:
    affiliate_id = int((await state.get_data())["id"])
    person = await desk.ban(user, affiliate_id, message.text or "")
    await state.clear()
    await notifier.ban_changed(person, int(time.time()))
    text, markup = await card_message(desk, person.id, user, i18n)
    await message.answer(_("⛔ Banned; they are told why.") + "\n\n" + text, reply_markup=markup)


async def unban(
    query: CallbackQuery,
    callback_data: AdminCallback,
    user: Affiliate,
    desk: AdminDesk,
    notifier: Notifier,
    i18n: I18n,
) -> None:
    person = await desk.unban(user, callback_data.id)
    await notifier.ban_changed(person, int(time.time()))
    text, markup = await card_message(desk, person.id, user, i18n)
    await show(query, _("✅ Unbanned; they are told.") + "\n\n" + text, markup)


async def ask_referrer(
    query: CallbackQuery, callback_data: AdminCallback, desk: AdminDesk, state: FSMContext
) -> None:
    person = (await desk.card(callback_data.id)).affiliate
    text = _(
        "🔗 Who referred {who}? Send the referrer's Telegram id or one of their link codes, "
        "then the reason, e.g.\n<code>123456789 came through their channel</code>\nIt "
        "replaces any referrer they had (second-level shares follow it from now on)."
    ).format(who=who(person))
    await ask_for(query, state, PanelInput.referrer, person.id, text)


async def take_referrer(
    message: Message, state: FSMContext, user: Affiliate, desk: AdminDesk, i18n: I18n
) -> None:
    affiliate_id = int((await state.get_data())["id"])
    person, referrer = await desk.assign_referrer(user, affiliate_id, message.text or "")
    await state.clear()
    text, markup = await card_message(desk, person.id, user, i18n)
    done = _("🔗 {referrer} is now the referrer.").format(referrer=who(referrer))
    await message.answer(done + "\n\n" + text, reply_markup=markup)


async def ask_rate(
    query: CallbackQuery, callback_data: AdminCallback, desk: AdminDesk, state: FSMContext
) -> None:
    person = (await desk.card(callback_data.id)).affiliate
    text = _(
        "💲 {who}'s own rate on one offer: send\n<code>OFFER_ID payout 2.50</code>, "
        "<code>OFFER_ID revshare 12.5</code> or <code>OFFER_ID clear</code>"
    ).format(who=who(person))
    await ask_for(query, state, PanelInput.rate, person.id, text)


async def take_rate(
    message: Message,
    state: FSMContext,
    user: Affiliate,
    desk: AdminDesk,
    offers: OfferService,
    i18n: I18n,
) -> None:
    person = (await desk.card(int((await state.get_data())["id"]))).affiliate
    _tg, offer_id, what, value = parse_rate_target(f"{person.tg_id} {message.text or ''}")
    offer = await offers.get(offer_id)
    change = parse_rate_change(what, value, offer.currency)
    rate = await desk.set_rate(user, person.tg_id, offer_id, change)  # audited
    await state.clear()
    text, markup = await card_message(desk, person.id, user, i18n)
    done = (
        _("✅ Rate saved.")
        if rate is not None
        else _("✅ The affiliate gets the offer's own rates again.")
    )
    await message.answer(done + "\n\n" + text, reply_markup=markup)


def router() -> Router:
    """The panel's Affiliates (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.callback_query.register(ask_find, AdminCallback.filter(F.action == AdminAction.AFFILIATES))
    r.message.register(found, PanelInput.find, F.text, ~F.text.startswith("/"))
    r.callback_query.register(open_card, AdminCallback.filter(F.action == AdminAction.CARD))
    r.callback_query.register(ask_ban_reason, AdminCallback.filter(F.action == AdminAction.BAN))
    r.message.register(ban, PanelInput.ban_reason, F.text, ~F.text.startswith("/"))
    r.callback_query.register(unban, AdminCallback.filter(F.action == AdminAction.UNBAN))
    r.callback_query.register(ask_referrer, AdminCallback.filter(F.action == AdminAction.REFERRER))
    r.message.register(take_referrer, PanelInput.referrer, F.text, ~F.text.startswith("/"))
    r.callback_query.register(ask_rate, AdminCallback.filter(F.action == AdminAction.RATE))
    r.message.register(take_rate, PanelInput.rate, F.text, ~F.text.startswith("/"))
    return r
