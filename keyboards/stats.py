"""Keyboards of the Stats section."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.services.stats import Period
from keyboards.callbacks import (
    MenuAction,
    MenuCallback,
    StatsCallback,
)


def stats_kb(current: Period) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    names = {
        Period.TODAY: _("Today"),
        Period.WEEK: _("7 days"),
        Period.MONTH: _("30 days"),
        Period.ALL: _("All time"),
    }
    for period, name in names.items():
        mark = "• " if period == current else ""
        kb.button(text=mark + name, callback_data=StatsCallback(period=period))
    kb.button(text=_("📈 Chart"), callback_data=StatsCallback(period=current, chart=True))
    kb.button(text=_("⬅️ Menu"), callback_data=MenuCallback(action=MenuAction.MAIN))
    kb.adjust(4, 1, 1)
    return kb.as_markup()
