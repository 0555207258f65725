"""Admin commands for offers. Non-admins never match here and fall through to the fallback."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.errors import N_, InvalidInput
from bot.filters import IsAdmin
from bot.notifier import Notifier
from bot.services.balance import BalanceService
from bot.services.conversions import ConversionService
from bot.services.inputs import ascii_int, tg_id
from bot.services.money import check_currency, format_money
from bot.services.offers import OfferService, parse_offer_command
from handlers.common import leading_id
from models import Offer

router = Router(name=__name__)
router.message.filter(IsAdmin())


def offer_line(offer: Offer, locale: str) -> str:
    state = "🟢" if offer.is_active else "⚪️"
    payout = format_money(offer.payout_minor, offer.currency, locale)
    line = f"{state} #{offer.id} <b>{escape(offer.title)}</b> · {offer.kind} · {payout}"
    if offer.target_url:
        line += f"\n    <code>{escape(offer.target_url)}</code>"
    return line


def parse_id(command: CommandObject) -> tuple[int, str]:
    return leading_id(command, N_("Give the offer's number, e.g. /{command} 3"))


@router.message(Command("admin"))
async def cmd_admin(message: Message) -> None:
    await message.answer(
        _(
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
    )


@router.message(Command("offers"))
async def cmd_offers(message: Message, offers: OfferService, i18n: I18n) -> None:
    items = await offers.list()
    if not items:
        await message.answer(_("No offers yet. Create one with /offer_add."))
        return
    await message.answer("\n".join(offer_line(o, i18n.current_locale) for o in items))


@router.message(Command("offer_add"))
async def cmd_offer_add(
    message: Message, command: CommandObject, offers: OfferService, i18n: I18n
) -> None:
    offer = await offers.create(parse_offer_command(command.args or ""))
    await message.answer(_("✅ Offer created:") + "\n" + offer_line(offer, i18n.current_locale))


@router.message(Command("offer_edit"))
async def cmd_offer_edit(
    message: Message, command: CommandObject, offers: OfferService, i18n: I18n
) -> None:
    offer_id, rest = parse_id(command)
    field, _sep, value = rest.partition(" ")
    if not value.strip():
        raise InvalidInput(
            N_("Usage: /offer_edit ID FIELD VALUE, e.g. /offer_edit 3 title New name")
        )
    offer = await offers.edit(offer_id, field.lower(), value)
    await message.answer(_("✅ Offer updated:") + "\n" + offer_line(offer, i18n.current_locale))


@router.message(Command("offer_on", "offer_off"))
async def cmd_offer_toggle(
    message: Message, command: CommandObject, offers: OfferService, i18n: I18n
) -> None:
    offer_id, _rest = parse_id(command)
    offer = await offers.set_active(offer_id, command.command == "offer_on")
    await message.answer(offer_line(offer, i18n.current_locale))


def postback_text(offer: Offer, public_url: str) -> str:
    base = f"{public_url}/postback/{offer.id}"
    return _(
        "<b>Postback for offer #{id}</b>\n\n"
        "Signed (HMAC-SHA256 of the sorted parameters, see the README):\n"
        "<code>{base}?click_id={{click_id}}&amp;event=deposit&amp;amount=10.00&amp;"
        "currency={currency}&amp;status=approved&amp;txid=…&amp;ts=…&amp;sig=…</code>\n"
        "Secret: <code>{secret}</code>\n\n"
        "Fixed URL with a token:\n"
        "<code>{base}?token={token}&amp;click_id={{click_id}}&amp;event=sale&amp;txid=…</code>"
    ).format(
        id=offer.id,
        base=base,
        currency=offer.currency,
        secret=escape(offer.secret),
        token=escape(offer.token or ""),
    )


@router.message(Command("offer_postback", "offer_secret"))
async def cmd_offer_postback(
    message: Message, command: CommandObject, offers: OfferService, settings: Settings
) -> None:
    offer_id, _rest = parse_id(command)
    if command.command == "offer_secret":
        offer = await offers.rotate_secret(offer_id)
    else:
        offer = await offers.get(offer_id)
    await message.answer(postback_text(offer, settings.PUBLIC_URL))


@router.message(Command("rate"))
async def cmd_rate(message: Message, command: CommandObject, offers: OfferService) -> None:
    parts = (command.args or "").split()
    affiliate = tg_id(parts[0]) if parts else None
    offer_id = ascii_int(parts[1]) if len(parts) > 1 else None
    if len(parts) < 3 or affiliate is None or offer_id is None:
        raise InvalidInput(
            N_("Usage: /rate TG_ID OFFER_ID payout AMOUNT | revshare PERCENT | clear")
        )
    rate = await offers.set_rate(affiliate, offer_id, parts[2].lower(), " ".join(parts[3:]))
    if rate is None:
        await message.answer(_("✅ The affiliate gets the offer's own rates again."))
    else:
        await message.answer(_("✅ Rate saved."))


@router.message(Command("reviews"))
async def cmd_reviews(message: Message, conversions: ConversionService, i18n: I18n) -> None:
    held = await conversions.held_for_review()
    if not held:
        await message.answer(_("No conversions are waiting for review."))
        return
    lines = [
        f"#{c.id} · {escape(c.offer.title)} · {escape(c.affiliate.display_name)} · "
        f"{format_money(c.commission_minor, c.currency, i18n.current_locale)} · "
        f"{escape(c.review_reason or '')}"
        for c in held
    ]
    await message.answer("\n".join(lines))


@router.message(Command("review_ok", "review_no"))
async def cmd_review(
    message: Message, command: CommandObject, conversions: ConversionService
) -> None:
    conversion_id, _rest = parse_id(command)
    status = await conversions.decide_review(conversion_id, command.command == "review_ok")
    await message.answer(
        _("Conversion #{id} is now {status}.").format(id=conversion_id, status=status.value)
    )


@router.message(Command("payouts"))
async def cmd_payouts(message: Message, balance: BalanceService, i18n: I18n) -> None:
    requests = await balance.open_requests()
    if not requests:
        await message.answer(_("No payout requests are waiting."))
        return
    lines = [
        f"#{p.id} · tg {p.affiliate_tg_id} · "
        f"{format_money(p.amount_minor, p.currency, i18n.current_locale)}\n"
        f"    <code>{escape(p.details)}</code>"
        for p in requests
    ]
    await message.answer("\n".join(lines))


@router.message(Command("payout_ok", "payout_no"))
async def cmd_payout_decide(
    message: Message, command: CommandObject, balance: BalanceService, notifier: Notifier
) -> None:
    request_id, note = parse_id(command)
    approve = command.command == "payout_ok"
    payout = await balance.decide(request_id, approve, note)
    await message.answer(
        _("Payout #{id} approved.").format(id=payout.id)
        if approve
        else _("Payout #{id} rejected; the money is back on the balance.").format(id=payout.id)
    )
    await notifier.payout_decided(payout)


@router.message(Command("adjust"))
async def cmd_adjust(message: Message, command: CommandObject, balance: BalanceService) -> None:
    parts = (command.args or "").split(maxsplit=3)
    affiliate = tg_id(parts[0]) if parts else None
    if len(parts) < 4 or affiliate is None:
        raise InvalidInput(
            N_("Usage: /adjust TG_ID AMOUNT CURRENCY NOTE, e.g. /adjust 123 -5.00 USD fix")
        )
    entry_id = await balance.adjust(affiliate, parts[1], check_currency(parts[2]), parts[3])
    await message.answer(_("✅ Adjustment #{id} recorded.").format(id=entry_id))
