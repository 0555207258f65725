"""/start (with or without a referral code), /help and /menu."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.notifier import Notifier
from bot.services.referrals import ReferralService
from handlers.common import menu_text
from keyboards.menu import back_to_menu_kb, main_menu_kb
from models import Affiliate

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


@router.message(CommandStart())
async def cmd_start(
    message: Message,
    command: CommandObject,
    user: Affiliate,
    referrals: ReferralService,
    notifier: Notifier,
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
    if outcome.refused == "unknown":
        text += "\n\n" + _("That invite link is not valid, but you are in all the same.")
    elif outcome.refused == "self":
        text += "\n\n" + _("That is your own link: share it with others to earn.")
    await message.answer(text, reply_markup=main_menu_kb())


@router.message(Command("menu"))
async def cmd_menu(message: Message, user: Affiliate) -> None:
    await message.answer(menu_text(user), reply_markup=main_menu_kb())


def help_text() -> str:
    return _(
        "<b>How it works</b>\n\n"
        "1. Open <b>My links</b>: you get your own bot link at once, and a link for every "
        "offer.\n"
        "2. Share them: post the link, send its QR code, or type @ and this bot's name in any "
        "chat to share a ready card.\n"
        "3. Every click and every person who starts the bot through your link is counted for "
        "you. Add sub-links (e.g. youtube) to see which source works best.\n"
        "4. Compete in <b>Races</b> for prizes and watch your <b>Stats</b>.\n\n"
        "Commands: /menu, /language, /help"
    )


@router.message(Command("help"))
async def cmd_help(message: Message) -> None:
    await message.answer(help_text(), reply_markup=back_to_menu_kb())
