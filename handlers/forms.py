"""A guided dialog in the chat: one field a step, with buttons for choices, Skip, Back and
Cancel at every step, a preview, and Confirm. A form is declared once (its steps, its
preview, what Confirm does) and brings its own router.

The answers so far live in the FSM data (`form`, `step` and one key per step), so a restart
or another instance continues the dialog where it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import F, Router
from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.errors import N_, InvalidInput
from keyboards.callbacks import FormAction, FormCallback
from keyboards.forms import confirm_kb, step_kb

Data = dict[str, Any]
Deps = dict[str, Any]  # what the dispatcher injects (services, the user, i18n …)


class Filling(StatesGroup):
    form = State()


@dataclass(frozen=True)
class Step:
    name: str
    ask: Callable[[Data], str]  # the question, in the user's language
    read: Callable[[str, Data, Deps], Awaitable[Any]]  # raw text or button -> value to keep
    choices: Callable[[Data, Deps], Awaitable[Sequence[tuple[str, str]]]] | None = None
    skippable: bool = False
    default: Any = None


@dataclass(frozen=True)
class Form:
    key: str  # short: it travels in the buttons' callback data
    title: Callable[[], str]
    steps: list[Step]
    preview: Callable[
        [Data, Deps], Awaitable[str]
    ]  # the whole answer, checked; InvalidInput if not
    finish: Callable[[Data, Deps], Awaitable[str]]  # Confirm: do it, and say what was done
    confirm_label: Callable[[], str]
    cancelled: Callable[[], str]

    # -- the flow ----------------------------------------------------------------------------

    async def begin(self, message: Message, state: FSMContext, data: Data, deps: Deps) -> None:
        await state.set_state(Filling.form)
        await state.set_data({**data, "form": self.key, "step": 0})
        await self._show(message, state, deps)

    async def _screen(self, data: Data, deps: Deps) -> tuple[str, InlineKeyboardMarkup]:
        index = data.get("step", 0)
        if index >= len(self.steps):
            return await self.preview(data, deps), confirm_kb(self.key, self.confirm_label())
        step = self.steps[index]
        number = _("Step {n} of {total}").format(n=index + 1, total=len(self.steps))
        choices = await step.choices(data, deps) if step.choices else []
        text = f"<b>{self.title()}</b> · {number}\n\n{step.ask(data)}"
        return text, step_kb(self.key, choices, step.skippable, can_back=index > 0)

    async def _show(self, target: Message | CallbackQuery, state: FSMContext, deps: Deps) -> None:
        text, markup = await self._screen(await state.get_data(), deps)
        if isinstance(target, CallbackQuery):
            await say(target, text, markup)
            await target.answer()
        else:
            await target.answer(text, reply_markup=markup)

    async def _advance(
        self, target: Message | CallbackQuery, state: FSMContext, raw: str | None, deps: Deps
    ) -> None:
        data = await state.get_data()
        index = data.get("step", 0)
        if index >= len(self.steps):
            raise InvalidInput(N_("Use the buttons under the preview."))
        step = self.steps[index]
        data[step.name] = step.default if raw is None else await step.read(raw, data, deps)
        data["step"] = index + 1
        if index + 1 == len(self.steps):
            await self.preview(data, deps)  # the whole answer must hold before the preview
        await state.set_data(data)
        await self._show(target, state, deps)

    # -- handlers ----------------------------------------------------------------------------

    async def on_text(self, message: Message, state: FSMContext, **deps: Any) -> None:
        await self._advance(message, state, message.text or "", deps)

    async def on_pick(
        self, query: CallbackQuery, callback_data: FormCallback, state: FSMContext, **deps: Any
    ) -> None:
        await self._advance(query, state, callback_data.value, deps)

    async def on_skip(self, query: CallbackQuery, state: FSMContext, **deps: Any) -> None:
        index = (await state.get_data()).get("step", 0)
        if index >= len(self.steps) or not self.steps[index].skippable:
            raise InvalidInput(N_("This step cannot be skipped."))
        await self._advance(query, state, None, deps)

    async def on_back(self, query: CallbackQuery, state: FSMContext, **deps: Any) -> None:
        data = await state.get_data()
        data["step"] = max(min(data.get("step", 0), len(self.steps)) - 1, 0)
        await state.set_data(data)
        await self._show(query, state, deps)

    async def on_cancel(self, query: CallbackQuery, state: FSMContext) -> None:
        await state.clear()
        await say(query, self.cancelled())
        await query.answer()

    async def on_confirm(self, query: CallbackQuery, state: FSMContext, **deps: Any) -> None:
        data = await state.get_data()
        if data.get("step", 0) < len(self.steps):
            raise InvalidInput(N_("This button is out of date."))
        text = await self.finish(data, deps)
        await state.clear()
        await say(query, text)
        await query.answer()

    @staticmethod
    async def on_stale(query: CallbackQuery) -> None:
        await query.answer(_("This button is out of date."), show_alert=True)

    def router(self) -> Router:
        """The form's handlers: text and buttons while it is being filled in, Cancel at any
        time, and "out of date" for its buttons once it is over."""
        r = Router(name=f"{__name__}.{self.key}")
        filling = (Filling.form, FormOf(self.key))
        r.message.register(self.on_text, *filling, F.text)
        for action, handler in (
            (FormAction.PICK, self.on_pick),
            (FormAction.SKIP, self.on_skip),
            (FormAction.BACK, self.on_back),
            (FormAction.CONFIRM, self.on_confirm),
        ):
            button = FormCallback.filter((F.form == self.key) & (F.action == action))
            r.callback_query.register(handler, *filling, button)
        cancel = FormCallback.filter((F.form == self.key) & (F.action == FormAction.CANCEL))
        r.callback_query.register(self.on_cancel, cancel)
        r.callback_query.register(self.on_stale, FormCallback.filter(F.form == self.key))
        return r


async def say(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """A new message under the button's; in the person's chat when Telegram sends that
    message as inaccessible (older than 48 hours) or sends none (an inline message)."""
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)
    elif query.bot is not None:
        await query.bot.send_message(query.from_user.id, text, reply_markup=markup)


class FormOf(Filter):
    """Passes while the FSM holds this form (several forms share one state)."""

    def __init__(self, key: str) -> None:
        self.key = key

    async def __call__(self, event: object, state: FSMContext) -> bool:
        return bool((await state.get_data()).get("form") == self.key)
