"""Admin commands for offers: list, create, edit, enable, the postback details, secrets."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.errors import N_, InvalidInput
from bot.services.admin_desk import AdminDesk
from bot.services.amounts import format_money
from bot.services.audit import Actor, offer_state
from bot.services.offers import OfferService
from bot.services.postback_test import example_url
from handlers.admin import offer_form
from handlers.admin.confirm import ask
from handlers.admin.parsing import leading_id, parse_offer_command, parse_offer_edit
from models import Affiliate, Offer


def offer_line(offer: Offer, locale: str) -> str:
    state = "🟢" if offer.is_active else "⚪️"
    payout = format_money(offer.payout_minor, offer.currency, locale)
    line = f"{state} #{offer.id} <b>{escape(offer.title)}</b> · {offer.kind} · {payout}"
    if offer.target_url:
        line += f"\n    <code>{escape(offer.target_url)}</code>"
    return line


def parse_id(command: CommandObject) -> tuple[int, str]:
    return leading_id(command, N_("Give the offer's number, e.g. /{command} 3"))


async def cmd_offers(message: Message, offers: OfferService, i18n: I18n) -> None:
    items = await offers.list()
    if not items:
        await message.answer(_("No offers yet. Create one with /offer_add."))
        return
    await message.answer("\n".join(offer_line(o, i18n.current_locale) for o in items))


async def cmd_offer_add(
    message: Message,
    command: CommandObject,
    offers: OfferService,
    i18n: I18n,
    desk: AdminDesk,
    user: Affiliate,
) -> None:
    offer = await offers.create(parse_offer_command(command.args or ""))
    await desk.audit.record(
        Actor.of(user), "offer.create", f"offer #{offer.id}", None, offer_state(offer)
    )
    await message.answer(_("✅ Offer created:") + "\n" + offer_line(offer, i18n.current_locale))


async def cmd_offer_edit(
    message: Message,
    command: CommandObject,
    offers: OfferService,
    i18n: I18n,
    desk: AdminDesk,
    user: Affiliate,
) -> None:
    offer_id, rest = parse_id(command)
    field, _sep, value = rest.partition(" ")
    if not value.strip():
        raise InvalidInput(
            N_("Usage: /offer_edit ID FIELD VALUE, e.g. /offer_edit 3 title New name")
        )
    patch = parse_offer_edit(field, value, await offers.get(offer_id))
    offer = await desk.edit_offer(user, offer_id, patch)  # audited
    await message.answer(_("✅ Offer updated:") + "\n" + offer_line(offer, i18n.current_locale))


async def cmd_offer_toggle(
    message: Message,
    command: CommandObject,
    offers: OfferService,
    i18n: I18n,
    desk: AdminDesk,
    user: Affiliate,
) -> None:
    offer_id, _rest = parse_id(command)
    offer = await desk.set_offer_active(user, offer_id, command.command == "offer_on")
    await message.answer(offer_line(offer, i18n.current_locale))


def postback_text(offer: Offer, public_url: str, example: str) -> str:
    base = f"{public_url}/postback/{offer.id}"
    return _(
        "<b>Postback for offer #{id}</b>\n\n"
        "Signed (HMAC-SHA256 of the sorted parameters, see the README):\n"
        "<code>{base}?click_id={{click_id}}&amp;event=deposit&amp;amount=10.00&amp;"
        "currency={currency}&amp;status=approved&amp;txid=…&amp;ts=…&amp;sig=…</code>\n"
        "Secret: <code>{secret}</code>\n\n"
        "Fixed URL with a token:\n"
        "<code>{base}?token={token}&amp;click_id={{click_id}}&amp;event=sale&amp;txid=…</code>"
        "\n\nA signed test postback to copy (valid 5 minutes; test=1 stores nothing):\n"
        "<code>{example}</code>"
    ).format(
        id=offer.id,
        base=base,
        currency=offer.currency,
        secret=escape(offer.secret),
        token=escape(offer.token or ""),
        example=escape(example),
    )


async def cmd_offer_postback(
    message: Message,
    command: CommandObject,
    offers: OfferService,
    settings: Settings,
    state: FSMContext,
    desk: AdminDesk,
    user: Affiliate,
    confirmed: bool = False,
) -> None:
    offer_id, _rest = parse_id(command)
    if command.command == "offer_secret" and not confirmed:
        offer = await offers.get(offer_id)
        question = _(
            "Give offer #{id} «{title}» a new signing secret? The advertiser must sign with the "
            "new one; the old one keeps working until the next rotation."
        ).format(id=offer.id, title=escape(offer.title))
        await ask(message, state, command, question, _("🔑 Yes, rotate it"))
        return
    if command.command == "offer_secret":
        offer = await offers.rotate_secret(offer_id)
        await desk.audit.record(  # never the secrets themselves
            Actor.of(user), "offer.secret", f"offer #{offer.id}", None, {"secret": "rotated"}
        )
    else:
        offer = await offers.get(offer_id)
    example = await example_url(offer, user, settings.PUBLIC_URL)
    await message.answer(postback_text(offer, settings.PUBLIC_URL, example))


def router() -> Router:
    """The offers commands, built afresh for each dispatcher (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.message.register(cmd_offers, Command("offers"))
    r.message.register(cmd_offer_add, Command("offer_add"))
    r.message.register(cmd_offer_edit, Command("offer_edit"))
    r.message.register(cmd_offer_toggle, Command("offer_on", "offer_off"))
    r.message.register(cmd_offer_postback, Command("offer_postback", "offer_secret"))
    r.message.register(offer_form.begin, Command("offer_new"))
    r.include_router(offer_form.OFFER_FORM.router())
    return r
