"""Keyboards of the Races section and the admin's race dialog."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import (
    MenuAction,
    MenuCallback,
    RaceAction,
    RaceCallback,
)
from keyboards.menu import add_home


def races_kb(races: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for race_id, label in races:
        kb.button(
            text=label[:60], callback_data=RaceCallback(action=RaceAction.SHOW, race_id=race_id)
        )
    kb.button(text=_("⬅️ Menu"), callback_data=MenuCallback(action=MenuAction.MAIN))
    kb.adjust(1)
    return kb.as_markup()


def race_card_kb(race_id: int, can_join: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if can_join:
        kb.button(
            text=_("✅ Join"), callback_data=RaceCallback(action=RaceAction.JOIN, race_id=race_id)
        )
    kb.button(
        text=_("📋 Leaderboard"),
        callback_data=RaceCallback(action=RaceAction.BOARD, race_id=race_id),
    )
    kb.button(
        text=_("🔄 Refresh"), callback_data=RaceCallback(action=RaceAction.SHOW, race_id=race_id)
    )
    kb.button(text=_("⬅️ Races"), callback_data=RaceCallback(action=RaceAction.LIST))
    add_home(kb)
    kb.adjust(*([1] if can_join else []), 2, 2)
    return kb.as_markup()


def board_kb(race_id: int, page: int, more: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if page > 0:
        kb.button(
            text="◀️",
            callback_data=RaceCallback(action=RaceAction.BOARD, race_id=race_id, page=page - 1),
        )
    if more:
        kb.button(
            text="▶️",
            callback_data=RaceCallback(action=RaceAction.BOARD, race_id=race_id, page=page + 1),
        )
    kb.button(
        text=_("⬅️ Race"), callback_data=RaceCallback(action=RaceAction.SHOW, race_id=race_id)
    )
    add_home(kb)
    kb.adjust(*([2] if page > 0 and more else [1] if page > 0 or more else []), 2)
    return kb.as_markup()
