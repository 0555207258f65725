"""/start (with or without a referral code), /help and /menu."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.referrals import ReferralService, Refused
from bot.telegram.notifier import Notifier
from handlers.common import help_text, menu_text
from keyboards.menu import back_to_menu_kb, main_menu_kb
from models import Affiliate


async def cmd_start(
    message: Message,
    command: CommandObject,
    user: Affiliate,
    referrals: ReferralService,
    notifier: Notifier,
    settings: Settings,
) -> None:
    outcome = await referrals.register_start(user, command.args)  # before anything can fail
    if outcome.referrer_id is not None:
        notifier.referral_credited(outcome.referrer_id)
    name = escape(user.display_name)
    if outcome.first_start:
        text = _(
            "👋 Welcome, {name}!\n\nShare your links, bring people in, climb the races and "
            "win prizes. Everything is in the menu below."
        ).format(name=name)
    else:
        text = _("👋 Welcome back, {name}!").format(name=name)
    if outcome.refused is Refused.UNKNOWN:
        text += "\n\n" + _("That invite link is not valid, but you are in all the same.")
    elif outcome.refused is Refused.SELF:
        text += "\n\n" + _("That is your own link: share it with others to earn.")
    await message.answer(text, reply_markup=main_menu_kb(settings.miniapp_url))


async def cmd_menu(message: Message, user: Affiliate, settings: Settings) -> None:
    await message.answer(menu_text(user), reply_markup=main_menu_kb(settings.miniapp_url))


async def cmd_help(message: Message) -> None:
    await message.answer(help_text(), reply_markup=back_to_menu_kb())


def router() -> Router:
    """This feature's router, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.message.filter(F.chat.type == "private")
    r.message.register(cmd_start, CommandStart())
    r.message.register(cmd_menu, Command("menu"))
    r.message.register(cmd_help, Command("help"))
    return r
