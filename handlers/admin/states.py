"""What the admin panel is waiting for the admin to type (FSM states); the id it is about is
kept in the state's data under "id"."""

from __future__ import annotations

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery

from handlers.common import show
from keyboards.admin import cancel_kb
from keyboards.callbacks import AdminAction


class PanelInput(StatesGroup):
    find = State()  # an id, @username, name or link code
    ban_reason = State()
    reject_reason = State()
    paid_reference = State()
    promote = State()  # a Telegram id
    referrer = State()  # a referrer's id or code, then why
    rate = State()  # OFFER_ID payout AMOUNT | revshare PERCENT | clear
    offer_field = State()  # the new value of one field of an offer
    bc_message = State()  # what to broadcast: a text or a photo with a caption
    bc_buttons = State()  # its URL buttons, "Text - https://…" a line


async def ask_for(
    query: CallbackQuery,
    state: FSMContext,
    wanted: State,
    id_: int,
    text: str,
    cancel_to: AdminAction = AdminAction.HOME,
) -> None:
    """Show a question about `id_` and wait for the admin's answer (✖️ Cancel goes back)."""
    await state.set_state(wanted)
    await state.update_data(id=id_)
    await show(query, text, cancel_kb(cancel_to))
