"""Admin commands for money: rates, conversions held for review, payout requests and manual
adjustments."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.errors import N_, InvalidInput
from bot.services.admin_desk import AdminDesk
from bot.services.amounts import check_currency, format_money
from bot.services.audit import Actor
from bot.services.balance import BalanceService
from bot.services.conversions import ConversionService
from bot.services.inputs import tg_id
from bot.services.offers import OfferService
from bot.telegram.notifier import Notifier
from bot.telegram.render import person, review_reason
from handlers.admin.confirm import ask
from handlers.admin.parsing import leading_id, parse_rate_change, parse_rate_target
from models import Affiliate


def conversion_id(command: CommandObject) -> tuple[int, str]:
    return leading_id(
        command, N_("Give the conversion's number, e.g. /{command} 3 (see /reviews)")
    )


def payout_id(command: CommandObject) -> tuple[int, str]:
    return leading_id(
        command, N_("Give the payout request's number, e.g. /{command} 3 (see /payouts)")
    )


async def cmd_rate(
    message: Message,
    command: CommandObject,
    offers: OfferService,
    desk: AdminDesk,
    user: Affiliate,
) -> None:
    affiliate, offer_id, what, value = parse_rate_target(command.args or "")
    offer = await offers.get(offer_id)
    change = parse_rate_change(what, value, offer.currency)
    rate = await desk.set_rate(user, affiliate, offer_id, change)  # audited
    if rate is None:
        await message.answer(_("✅ The affiliate gets the offer's own rates again."))
    else:
        await message.answer(_("✅ Rate saved."))


async def cmd_reviews(message: Message, conversions: ConversionService, i18n: I18n) -> None:
    held = await conversions.held_for_review()
    if not held:
        await message.answer(_("No conversions are waiting for review."))
        return
    lines = [
        f"#{c.id} · {escape(c.offer.title)} · "
        f"{person(c.affiliate.display_name, c.affiliate.username, c.affiliate.tg_id)} · "
        f"{format_money(c.commission_minor, c.currency, i18n.current_locale)} · "
        f"{review_reason(c.review_reason or '')}"
        for c in held
    ]
    await message.answer("\n".join(lines))


async def cmd_review(
    message: Message,
    command: CommandObject,
    conversions: ConversionService,
    state: FSMContext,
    desk: AdminDesk,
    user: Affiliate,
    confirmed: bool = False,
) -> None:
    number, _rest = conversion_id(command)
    if command.command == "review_no" and not confirmed:
        question = _(
            "Reject conversion #{id}? It earns nothing, and a race it counted in loses it."
        ).format(id=number)
        await ask(message, state, command, question, _("❌ Yes, reject it"))
        return
    status = await conversions.decide_review(number, command.command == "review_ok")
    await desk.audit.record(
        Actor.of(user),
        "conversion.review",
        f"conversion #{number}",
        {"status": "held"},
        {"status": status.value},
    )
    await message.answer(
        _("Conversion #{id} is now {status}.").format(id=number, status=status.value)
    )


async def cmd_payouts(message: Message, balance: BalanceService, i18n: I18n) -> None:
    requests = await balance.open_requests()
    if not requests:
        await message.answer(_("No payout requests are waiting."))
        return
    lines = [
        f"#{p.id} · {person(p.affiliate_name, p.affiliate_username, p.affiliate_tg_id)} · "
        f"{format_money(p.amount_minor, p.currency, i18n.current_locale)}\n"
        f"    <code>{escape(p.details)}</code>"
        for p in requests
    ]
    await message.answer("\n".join(lines))


async def cmd_payout_decide(
    message: Message,
    command: CommandObject,
    desk: AdminDesk,
    user: Affiliate,
    notifier: Notifier,
    state: FSMContext,
    confirmed: bool = False,
) -> None:
    request_id, note = payout_id(command)
    approve = command.command == "payout_ok"
    if not approve and not confirmed:
        question = _(
            "Reject payout request #{id}? The money goes back to the affiliate's balance and "
            "they are told the reason: {reason}"
        ).format(id=request_id, reason=escape(note) if note else _("(none given)"))
        await ask(message, state, command, question, _("❌ Yes, reject it"))
        return
    payout = await desk.decide_payout(user, request_id, approve, note)  # audited
    await message.answer(
        _("Payout #{id} approved.").format(id=payout.id)
        if approve
        else _("Payout #{id} rejected; the money is back on the balance.").format(id=payout.id)
    )
    await notifier.payout_decided(payout)


async def cmd_adjust(
    message: Message,
    command: CommandObject,
    desk: AdminDesk,
    user: Affiliate,
    notifier: Notifier,
    i18n: I18n,
    state: FSMContext,
    confirmed: bool = False,
) -> None:
    parts = (command.args or "").split(maxsplit=3)
    affiliate = tg_id(parts[0]) if parts else None
    if len(parts) < len(("TG_ID", "AMOUNT", "CURRENCY", "NOTE")) or affiliate is None:
        raise InvalidInput(
            N_("Usage: /adjust TG_ID AMOUNT CURRENCY NOTE, e.g. /adjust 123 -5.00 USD fix")
        )
    currency = check_currency(parts[2])
    locale = i18n.current_locale
    if not confirmed:
        who, minor = await desk.balance.check_adjustment(affiliate, parts[1], currency, parts[3])
        shown = format_money(minor, currency, locale)
        question = _("Adjust the balance of {who} by {amount}? They are told: {reason}").format(
            who=person(who.display_name, who.username, who.tg_id),
            amount=("+" + shown) if minor > 0 else shown,
            reason=escape(parts[3]),
        )
        await ask(message, state, command, question, _("✅ Yes, adjust"))
        return
    done = await desk.adjust(user, affiliate, parts[1], currency, parts[3])  # audited
    await message.answer(
        _("✅ Adjustment #{id}: {amount} for {who}. Their balance is now {balance}.").format(
            id=done.entry_id,
            amount=format_money(done.amount_minor, done.currency, locale),
            who=person(done.affiliate_name, done.affiliate_username, done.affiliate_tg_id),
            balance=format_money(done.balance_minor, done.currency, locale),
        )
    )
    await notifier.adjusted(done)


def router() -> Router:
    """The money commands, built afresh for each dispatcher (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.message.register(cmd_rate, Command("rate"))
    r.message.register(cmd_reviews, Command("reviews"))
    r.message.register(cmd_review, Command("review_ok", "review_no"))
    r.message.register(cmd_payouts, Command("payouts"))
    r.message.register(cmd_payout_decide, Command("payout_ok", "payout_no"))
    r.message.register(cmd_adjust, Command("adjust"))
    return r
