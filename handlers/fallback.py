"""Last router: whatever nobody else handled gets a polite answer, never silence."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from handlers.common import menu_text
from keyboards.menu import main_menu_kb
from models import Affiliate


async def unknown_command(message: Message, user: Affiliate, settings: Settings) -> None:
    await message.answer(
        _("I don't know that command.") + "\n\n" + menu_text(user),
        reply_markup=main_menu_kb(settings.miniapp_url),
    )


async def not_understood(message: Message, user: Affiliate, settings: Settings) -> None:
    await message.answer(
        _("I work with buttons and commands.") + "\n\n" + menu_text(user),
        reply_markup=main_menu_kb(settings.miniapp_url),
    )


async def stale_button(query: CallbackQuery) -> None:
    await query.answer(
        _("This button is out of date. Open /menu for a fresh one."), show_alert=True
    )


def router() -> Router:
    """This feature's router, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.message.register(unknown_command, F.chat.type == "private", F.text.startswith("/"))
    r.message.register(not_understood, F.chat.type == "private")
    r.callback_query.register(stale_button)
    return r
