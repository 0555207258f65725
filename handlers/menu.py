"""The main menu's buttons: Stats, Races, Balance, Help, and back to the menu."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery

from handlers.common import menu_text, show
from handlers.start import help_text
from keyboards.callbacks import MenuAction, MenuCallback
from keyboards.menu import back_to_menu_kb, main_menu_kb
from models import Affiliate

router = Router(name=__name__)


@router.callback_query(MenuCallback.filter(F.action == MenuAction.MAIN))
async def open_menu(query: CallbackQuery, user: Affiliate) -> None:
    await show(query, menu_text(user), main_menu_kb())


@router.callback_query(MenuCallback.filter(F.action == MenuAction.HELP))
async def open_help(query: CallbackQuery) -> None:
    await show(query, help_text(), back_to_menu_kb())
