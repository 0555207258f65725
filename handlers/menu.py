"""The main menu's buttons: Stats, Races, Balance, Help, and back to the menu."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery

from bot.config import Settings
from handlers.common import help_text, menu_text, show
from keyboards.callbacks import MenuAction, MenuCallback
from keyboards.menu import back_to_menu_kb, main_menu_kb
from models import Affiliate


async def open_menu(query: CallbackQuery, user: Affiliate, settings: Settings) -> None:
    await show(query, menu_text(user), main_menu_kb(settings.miniapp_url))


async def open_help(query: CallbackQuery) -> None:
    await show(query, help_text(), back_to_menu_kb())


def router() -> Router:
    """The menu's own buttons, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.callback_query.register(open_menu, MenuCallback.filter(F.action == MenuAction.MAIN))
    r.callback_query.register(open_help, MenuCallback.filter(F.action == MenuAction.HELP))
    return r
