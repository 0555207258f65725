"""The main menu and the small keyboards shared by every section."""

from __future__ import annotations

import functools

from aiogram.types import InlineKeyboardMarkup, WebAppInfo
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import MenuAction, MenuCallback


def main_menu_kb(app_url: str | None = None) -> InlineKeyboardMarkup:
    """The main menu; with the Mini App's https address, its button comes first. Built once
    per language (the builder copies every button: about 0.5 ms, on most updates)."""
    try:
        locale = get_i18n().current_locale
    except LookupError:  # outside a handler: no language chosen
        return _main_menu(app_url)
    return _main_menu_in(locale, app_url)


@functools.lru_cache(maxsize=64)
def _main_menu_in(locale: str, app_url: str | None) -> InlineKeyboardMarkup:
    return _main_menu(app_url)  # `locale` is the current one: it keys the cache


def _main_menu(app_url: str | None) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if app_url:
        kb.button(text=_("📱 Open the app"), web_app=WebAppInfo(url=app_url))
    kb.button(text=_("🔗 My links"), callback_data=MenuCallback(action=MenuAction.LINKS))
    kb.button(text=_("📊 Stats"), callback_data=MenuCallback(action=MenuAction.STATS))
    kb.button(text=_("🏁 Races"), callback_data=MenuCallback(action=MenuAction.RACES))
    kb.button(text=_("💰 Balance"), callback_data=MenuCallback(action=MenuAction.BALANCE))
    kb.button(text=_("⚙️ Settings"), callback_data=MenuCallback(action=MenuAction.SETTINGS))
    kb.button(text=_("❓ Help"), callback_data=MenuCallback(action=MenuAction.HELP))
    if app_url:
        kb.adjust(1, 2, 2, 2)
    else:
        kb.adjust(2)
    return kb.as_markup()


def back_to_menu_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("⬅️ Menu"), callback_data=MenuCallback(action=MenuAction.MAIN))
    return kb.as_markup()


def add_home(kb: InlineKeyboardBuilder) -> None:
    """The main menu one tap away, on every screen below the first level."""
    kb.button(text=_("🏠 Menu"), callback_data=MenuCallback(action=MenuAction.MAIN))
