"""The panel's Broadcast: compose (a text with formatting or a photo with a caption, optional
URL buttons) → the audience → a preview exactly as recipients will see it → Send; then a live
progress message with Pause / Resume / Cancel (bot/telegram/broadcasts.py)."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.errors import N_, Conflict
from bot.i18n import LANGUAGES
from bot.services.admin_desk import AdminDesk
from bot.services.audit import Actor
from bot.services.broadcasts import (
    Audience,
    BroadcastService,
    Draft,
    check_message,
    parse_buttons,
)
from bot.services.races import RaceService
from bot.telegram.broadcasts import BroadcastReporter
from bot.telegram.sender import OutboxSender
from handlers.admin.states import PanelInput
from handlers.common import show
from keyboards.admin import (
    ACTIVE_DAYS,
    audience_kb,
    buttons_step_kb,
    cancel_kb,
    race_pick_kb,
    send_kb,
    url_buttons,
)
from keyboards.callbacks import AdminAction, AdminCallback
from models import Affiliate

AUDIENCES = (Audience.ALL, Audience.ACTIVE, Audience.RACE, Audience.LANGUAGE)
STALE = N_("This button is out of date.")


def on(action: AdminAction) -> CallbackQueryFilter:
    return AdminCallback.filter(F.action == action)


async def ask_message(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(PanelInput.bc_message)
    text = _(
        "📣 <b>Broadcast</b>\n\nSend the message to broadcast: a text (bold, links and the "
        "rest of Telegram's formatting are kept) or a photo with a caption."
    )
    await show(query, text, cancel_kb(AdminAction.HOME))


async def take_message(message: Message, state: FSMContext) -> None:
    photo = message.photo[-1].file_id if message.photo else None
    text = message.html_text if (message.text or message.caption) else ""
    check_message(text, photo)
    await state.update_data(text=text, photo=photo, buttons=[])
    await state.set_state(PanelInput.bc_buttons)
    await message.answer(
        _(
            "Add URL buttons under it? Send them one a line as\n<code>Text - https://address"
            "</code>\nor tap No buttons."
        ),
        reply_markup=buttons_step_kb(),
    )


async def take_buttons(message: Message, state: FSMContext) -> None:
    await state.update_data(buttons=parse_buttons(message.text or ""))
    await state.set_state(None)  # the draft stays in the data; the next steps are buttons
    await message.answer(_("Who gets it?"), reply_markup=audience_kb())


async def skip_buttons(query: CallbackQuery, state: FSMContext) -> None:
    if "text" not in await state.get_data():
        raise Conflict(STALE)
    await state.set_state(None)
    await show(query, _("Who gets it?"), audience_kb())


async def pick_race(query: CallbackQuery, races: RaceService) -> None:
    items = [(r.id, f"#{r.id} {r.title}") for r in await races.all_races()]
    await show(query, _("Which race's participants?"), race_pick_kb(items))


def audience_of(callback_data: AdminCallback) -> tuple[Audience, str]:
    audience = AUDIENCES[min(callback_data.id, len(AUDIENCES) - 1)]
    if audience is Audience.ACTIVE:
        return audience, str(ACTIVE_DAYS[min(callback_data.page, len(ACTIVE_DAYS) - 1)])
    if audience is Audience.LANGUAGE:
        return audience, LANGUAGES[min(callback_data.page, len(LANGUAGES) - 1)]
    if audience is Audience.RACE:
        return audience, str(callback_data.page)
    return audience, ""


def audience_name(audience: Audience, arg: str) -> str:
    if audience is Audience.ACTIVE:
        return _("who used the bot in the last {days} days").format(days=arg)
    if audience is Audience.RACE:
        return _("the participants of race #{id}").format(id=arg)
    if audience is Audience.LANGUAGE:
        return _("who read the bot in {language}").format(language=arg)
    return _("everyone")


async def preview(
    query: CallbackQuery,
    callback_data: AdminCallback,
    state: FSMContext,
    broadcasts: BroadcastService,
    bot: Bot,
    user: Affiliate,
) -> None:
    data = await state.get_data()
    if "text" not in data:
        raise Conflict(STALE)
    audience, arg = audience_of(callback_data)
    count = await broadcasts.count(audience, arg)
    await state.update_data(audience=audience.value, audience_arg=arg)
    await query.answer()
    await send_as_recipients_see_it(bot, user.tg_id, data)
    await bot.send_message(
        user.tg_id,
        _(
            "👆 This is how it will look. It goes to {count} people ({who}), paced under "
            "Telegram's limits. Send it?"
        ).format(count=count, who=audience_name(audience, arg)),
        reply_markup=send_kb(),
    )


async def send_as_recipients_see_it(bot: Bot, chat_id: int, data: dict[str, Any]) -> None:
    markup = url_buttons(data.get("buttons") or [])
    if data.get("photo"):
        await bot.send_photo(
            chat_id, data["photo"], caption=data["text"] or None, reply_markup=markup
        )
    else:
        await bot.send_message(chat_id, data["text"], reply_markup=markup)


async def send(
    query: CallbackQuery,
    bot: Bot,
    state: FSMContext,
    broadcasts: BroadcastService,
    reporter: BroadcastReporter,
    sender: OutboxSender,
    desk: AdminDesk,
    user: Affiliate,
) -> None:
    data = await state.get_data()
    if "audience" not in data:  # a second tap, or an old preview: nothing twice
        raise Conflict(STALE)
    await state.clear()
    draft = Draft(
        data["text"],
        data.get("photo"),
        data.get("buttons") or [],
        Audience(data["audience"]),
        data.get("audience_arg", ""),
    )
    broadcast = await broadcasts.start(user.tg_id, draft)
    await desk.audit.record(
        Actor.of(user),
        "broadcast.send",
        f"broadcast #{broadcast.id}",
        None,
        {"audience": draft.audience.value, "arg": draft.audience_arg, "total": broadcast.total},
    )
    await query.answer()
    # To the admin's chat, as the preview was: the button's message may be out of reach (older
    # than 48 hours, Telegram then sends it as inaccessible).
    shown = await bot.send_message(
        user.tg_id,
        _("📣 Broadcast #{id}: queued for {count} people…").format(
            id=broadcast.id, count=broadcast.total
        ),
    )
    await broadcasts.set_progress_message(broadcast, shown.chat.id, shown.message_id)
    sender.wake()
    await reporter.report_one(broadcast)


async def control(
    query: CallbackQuery,
    callback_data: AdminCallback,
    broadcasts: BroadcastService,
    reporter: BroadcastReporter,
    sender: OutboxSender,
    desk: AdminDesk,
    user: Affiliate,
) -> None:
    action = callback_data.action
    if action is AdminAction.BC_CANCEL:
        broadcast = await broadcasts.cancel(callback_data.id)
    else:
        broadcast = await broadcasts.set_paused(callback_data.id, action is AdminAction.BC_PAUSE)
        sender.wake()
    await desk.audit.record(
        Actor.of(user), f"broadcast.{broadcast.status.value}", f"broadcast #{broadcast.id}"
    )
    await query.answer()
    await reporter.report_one(broadcast)


def router() -> Router:
    """The panel's Broadcast (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.callback_query.register(ask_message, on(AdminAction.BROADCAST))
    r.message.register(
        take_message, PanelInput.bc_message, F.photo | (F.text & ~F.text.startswith("/"))
    )
    r.message.register(take_buttons, PanelInput.bc_buttons, F.text, ~F.text.startswith("/"))
    r.callback_query.register(skip_buttons, on(AdminAction.BC_SKIP))
    r.callback_query.register(pick_race, on(AdminAction.BC_RACES))
    r.callback_query.register(preview, on(AdminAction.BC_AUDIENCE))
    r.callback_query.register(send, on(AdminAction.BC_SEND))
    for action in (AdminAction.BC_PAUSE, AdminAction.BC_RESUME, AdminAction.BC_CANCEL):
        r.callback_query.register(control, on(action))
    return r
