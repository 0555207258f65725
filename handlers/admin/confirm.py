"""A confirmation button before a destructive admin command runs (end or cancel a race, reject
a payout or a conversion, rotate a secret, adjust a balance).

The command is read and checked first, so a typo is answered at once; then its consequence is
spelled out with Yes and No. The command waits in the admin's FSM data (one at a time: a newer
question makes the older buttons out of date); Yes runs the same handler again with
`confirmed=True`, so what runs is exactly what was asked about."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.handler import CallableObject
from aiogram.filters import CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import ConfirmCallback

Handler = Callable[..., Awaitable[Any]]
KEY = "confirm"


def confirm_kb(token: str, yes_label: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=yes_label, callback_data=ConfirmCallback(token=token, yes=True))
    kb.button(text=_("✖️ No"), callback_data=ConfirmCallback(token=token, yes=False))
    kb.adjust(2)
    return kb.as_markup()


async def ask(
    message: Message, state: FSMContext, command: CommandObject, question: str, yes_label: str
) -> None:
    """Keep the command and ask; it runs when Yes is pressed."""
    token = secrets.token_hex(4)
    pending = {"token": token, "command": command.command, "args": command.args or ""}
    await state.update_data({KEY: pending})
    await message.answer(question, reply_markup=confirm_kb(token, yes_label))


async def on_answer(
    query: CallbackQuery,
    callback_data: ConfirmCallback,
    state: FSMContext,
    handlers: dict[str, Handler],
    **data: Any,
) -> None:
    pending = (await state.get_data()).get(KEY)
    message = query.message
    # A question Telegram sends as inaccessible (older than 48 hours) is out of date too: the
    # command answers on the question's message, which the bot can no longer reach.
    if (
        not pending
        or pending.get("token") != callback_data.token
        or not isinstance(message, Message)
    ):
        await query.answer(_("This button is out of date."), show_alert=True)
        return
    await state.update_data({KEY: None})
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    if not callback_data.yes:
        await message.answer(_("Nothing was done."))
        return
    command = CommandObject(prefix="/", command=pending["command"], args=pending["args"] or None)
    handler = handlers[pending["command"]]
    await CallableObject(handler).call(
        message, command=command, state=state, confirmed=True, **data
    )


def router(handlers: dict[str, Handler]) -> Router:
    """The Yes/No buttons; `handlers` are the destructive commands by name."""
    r = Router(name=__name__)

    async def answer(query: CallbackQuery, callback_data: ConfirmCallback, **data: Any) -> None:
        await on_answer(query, callback_data, handlers=handlers, **data)

    r.callback_query.register(answer, ConfirmCallback.filter(F.token))
    return r
