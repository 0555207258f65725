"""Keyboards of the Settings section."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import LANGUAGE_NAMES
from keyboards.callbacks import MenuAction, MenuCallback, SettingsAction, SettingsCallback
from keyboards.menu import add_home

# Offered as buttons; any other IANA name can be typed with /timezone.
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Kyiv",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Almaty",
    "Asia/Kolkata",
    "Asia/Singapore",
    "America/New_York",
    "America/Sao_Paulo",
    "America/Los_Angeles",
)


def settings_kb(notify: bool, zone_name: str = "UTC") -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("🌐 Language"), callback_data=SettingsCallback(action=SettingsAction.LANGUAGE)
    )
    kb.button(
        text=_("🕒 Time zone: {zone}").format(zone=zone_name),
        callback_data=SettingsCallback(action=SettingsAction.ZONE),
    )
    kb.button(
        text=_("🔔 Notifications: on") if notify else _("🔕 Notifications: off"),
        callback_data=SettingsCallback(action=SettingsAction.NOTIFY, value="0" if notify else "1"),
    )
    kb.button(text=_("⬅️ Menu"), callback_data=MenuCallback(action=MenuAction.MAIN))
    kb.adjust(1)
    return kb.as_markup()


def zone_kb(current: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for index, name in enumerate(COMMON_ZONES):
        kb.button(
            text=("✅ " if name == current else "") + name,
            callback_data=SettingsCallback(action=SettingsAction.SET_ZONE, value=str(index)),
        )
    kb.button(text=_("⬅️ Settings"), callback_data=MenuCallback(action=MenuAction.SETTINGS))
    add_home(kb)
    kb.adjust(*([2] * (len(COMMON_ZONES) // 2)), 2)
    return kb.as_markup()


def language_kb(current: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code, name in LANGUAGE_NAMES.items():
        kb.button(
            text=("✅ " if code == current else "") + name,
            callback_data=SettingsCallback(action=SettingsAction.SET_LANGUAGE, value=code),
        )
    kb.button(text=_("⬅️ Settings"), callback_data=MenuCallback(action=MenuAction.SETTINGS))
    add_home(kb)
    kb.adjust(len(LANGUAGE_NAMES), 2)
    return kb.as_markup()
