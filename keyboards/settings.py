"""Keyboards of the Settings section."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import LANGUAGE_NAMES
from keyboards.callbacks import MenuAction, MenuCallback, SettingsAction, SettingsCallback
from keyboards.menu import add_home
from models import Category

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


def settings_kb(zone_name: str = "UTC") -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("🌐 Language"), callback_data=SettingsCallback(action=SettingsAction.LANGUAGE)
    )
    kb.button(
        text=_("🕒 Time zone: {zone}").format(zone=zone_name),
        callback_data=SettingsCallback(action=SettingsAction.ZONE),
    )
    kb.button(
        text=_("🔔 Notifications"),
        callback_data=SettingsCallback(action=SettingsAction.NOTIFICATIONS),
    )
    kb.button(text=_("⬅️ Menu"), callback_data=MenuCallback(action=MenuAction.MAIN))
    kb.adjust(1)
    return kb.as_markup()


def category_name(category: Category) -> str:
    return {
        Category.REFERRALS: _("New referrals"),
        Category.CONVERSIONS: _("Conversions"),
        Category.RACE_NEWS: _("Race news"),
        Category.ANNOUNCEMENTS: _("Announcements"),
        Category.ADMIN: _("Admin: payout requests and reviews"),
    }[category]


def notifications_kb(muted: set[Category], admin: bool) -> InlineKeyboardMarkup:
    """One toggle per category (✅ on, 🔕 off; the button's value is 1 or 0, then the
    category); the admins' own category for admins only."""
    kb = InlineKeyboardBuilder()
    for category in Category:
        if category is Category.ADMIN and not admin:
            continue
        off = category in muted
        kb.button(
            text=("🔕 " if off else "✅ ") + category_name(category),
            callback_data=SettingsCallback(
                action=SettingsAction.NOTIFY, value=("1" if off else "0") + category.value
            ),
        )
    kb.button(text=_("⬅️ Settings"), callback_data=MenuCallback(action=MenuAction.SETTINGS))
    add_home(kb)
    kb.adjust(*([1] * (len(Category) - (not admin))), 2)
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
