"""Admin commands for offers. Non-admins never match here and fall through to the fallback."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.errors import N_, InvalidInput
from bot.services.money import format_money
from bot.services.offers import OfferService, parse_offer_command
from models import Offer


class IsAdmin(Filter):
    async def __call__(self, event: Any, is_admin: bool = False) -> bool:
        return is_admin


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
    head, _sep, rest = (command.args or "").strip().partition(" ")
    if not head.isdigit() or len(head) > 9:
        raise InvalidInput(
            N_("Give the offer's number, e.g. /{command} 3"), command=command.command
        )
    return int(head), rest.strip()


@router.message(Command("admin"))
async def cmd_admin(message: Message) -> None:
    await message.answer(
        _(
            "<b>Admin commands</b>\n\n"
            "/offers: list every offer\n"
            "/offer_add KIND AMOUNT CURRENCY [URL] TITLE: create an offer "
            "(KIND is url, bot or app; URL only for url)\n"
            "/offer_edit ID FIELD VALUE: change title, url, payout (e.g. 2.50 EUR) or kind\n"
            "/offer_on ID, /offer_off ID: enable or disable an offer\n\n"
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
