"""Buttons of a guided dialog (handlers/forms.py): a step's choices, Skip, Back, Cancel, and
the preview's Confirm."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import FormAction, FormCallback


def step_kb(
    form: str, choices: Sequence[tuple[str, str]], can_skip: bool, can_back: bool
) -> InlineKeyboardMarkup:
    """A step: its choices (value, label) two a row, then Skip, Back and Cancel."""
    kb = InlineKeyboardBuilder()
    for value, label in choices:
        kb.button(
            text=label, callback_data=FormCallback(form=form, action=FormAction.PICK, value=value)
        )
    sizes = [2] * ((len(choices) + 1) // 2)
    row = 0
    if can_skip:
        kb.button(text=_("⏭ Skip"), callback_data=FormCallback(form=form, action=FormAction.SKIP))
        row += 1
    if can_back:
        kb.button(text=_("⬅️ Back"), callback_data=FormCallback(form=form, action=FormAction.BACK))
        row += 1
    kb.button(text=_("✖️ Cancel"), callback_data=FormCallback(form=form, action=FormAction.CANCEL))
    kb.adjust(*sizes, row + 1)
    return kb.as_markup()


def confirm_kb(form: str, label: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=label, callback_data=FormCallback(form=form, action=FormAction.CONFIRM))
    kb.button(text=_("⬅️ Back"), callback_data=FormCallback(form=form, action=FormAction.BACK))
    kb.button(text=_("✖️ Cancel"), callback_data=FormCallback(form=form, action=FormAction.CANCEL))
    kb.adjust(1, 2)
    return kb.as_markup()
