"""Keyboards of the Balance section."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import (
    BalanceAction,
    BalanceCallback,
    MenuAction,
    MenuCallback,
)
from keyboards.menu import add_home


def balance_kb(payable: list[str]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("📜 History"), callback_data=BalanceCallback(action=BalanceAction.HISTORY))
    for currency in payable:
        kb.button(
            text=_("💳 Request payout ({currency})").format(currency=currency),
            callback_data=BalanceCallback(action=BalanceAction.PAYOUT, currency=currency),
        )
    kb.button(text=_("⬅️ Menu"), callback_data=MenuCallback(action=MenuAction.MAIN))
    kb.adjust(1)
    return kb.as_markup()


def history_kb(page: int, more: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if page > 0:
        kb.button(
            text="◀️", callback_data=BalanceCallback(action=BalanceAction.HISTORY, page=page - 1)
        )
    if more:
        kb.button(
            text="▶️", callback_data=BalanceCallback(action=BalanceAction.HISTORY, page=page + 1)
        )
    kb.button(text=_("⬅️ Balance"), callback_data=BalanceCallback(action=BalanceAction.SHOW))
    add_home(kb)
    kb.adjust(*([2] if page > 0 and more else [1] if page > 0 or more else []), 2)
    return kb.as_markup()


def payout_confirm_kb(currency: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("✅ Send the request"),
        callback_data=BalanceCallback(action=BalanceAction.CONFIRM, currency=currency),
    )
    kb.button(text=_("✖️ Cancel"), callback_data=BalanceCallback(action=BalanceAction.SHOW))
    kb.adjust(1)
    return kb.as_markup()


def payout_cancel_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✖️ Cancel"), callback_data=BalanceCallback(action=BalanceAction.SHOW))
    return kb.as_markup()
