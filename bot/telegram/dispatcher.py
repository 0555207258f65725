"""aiogram's Dispatcher, made to outlast a short outage of the database or Redis in polling
mode, where Telegram never sends an update twice.

In webhook mode an update that fails on an outage answers 503 and Telegram sends it again.
Polling has no such second chance: aiogram confirms the update before its handler has run.
So in polling mode (`retry_for` > 0) an update that fails because a dependency is down is
run again with growing pauses for up to `retry_for` seconds. If it still fails, the person
who sent it is asked, once and politely, to try again in a moment; an update that nobody
sent (a channel join or leave) is kept in a local file instead and run again once the
dependency answers (`replay_parked`), so that no join is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from loguru import logger

from bot.errors import outage
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES

Sleep = Callable[[float], Awaitable[None]]


class ParkedUpdates:
    """Updates that no person sent, kept as JSON lines until they can be handled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def park(self, update: Update) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = update.model_dump_json(exclude_none=True, exclude_unset=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())

    def load(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        updates = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                updates.append(json.loads(line))
        return updates

    def keep_only(self, updates: list[dict[str, Any]]) -> None:
        """Rewrite the file with what is still to do (atomically: a crash keeps the old one)."""
        if not updates:
            self.path.unlink(missing_ok=True)
            return
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text("".join(json.dumps(u) + "\n" for u in updates), encoding="utf-8")
        os.replace(temporary, self.path)


def is_membership(update: Update) -> bool:
    """A join or leave: nobody sent it, so nobody can be asked to send it again."""
    return update.chat_member is not None or update.my_chat_member is not None


def sender_language(update: Update) -> str:
    user = None
    if update.message is not None:
        user = update.message.from_user
    elif update.callback_query is not None:
        user = update.callback_query.from_user
    code = (user.language_code or "").split("-")[0] if user is not None else ""
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


class RetryingDispatcher(Dispatcher):
    """A Dispatcher whose feed_update waits out a short outage (see the module's docstring)."""

    retry_for = 0.0  # seconds; 0: fail at once (webhook mode, and tests that want it)
    first_pause = 0.5
    longest_pause = 8.0
    i18n: I18n | None = None
    parked: ParkedUpdates | None = None
    sleep: Sleep = staticmethod(asyncio.sleep)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight: set[asyncio.Task[Any]] = set()  # updates being handled now

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        if task is None:
            return await self._feed(bot, update, **kwargs)
        self.in_flight.add(task)
        try:
            return await self._feed(bot, update, **kwargs)
        finally:
            self.in_flight.discard(task)

    async def finish_in_flight(self, seconds: float) -> int:
        """At a stop: wait up to `seconds` for the updates being handled (polling hands each
        to a task of its own and does not wait for them), then cancel what is left, which
        Telegram sends again. Returns how many had to be cancelled."""
        waiting = {t for t in self.in_flight if t is not asyncio.current_task()}
        if not waiting:
            return 0
        _done, late = await asyncio.wait(waiting, timeout=max(seconds, 0))
        for task in late:
            task.cancel()
        return len(late)

    async def _feed(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        if self.retry_for <= 0:
            return await super().feed_update(bot, update, **kwargs)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for
        pause = self.first_pause
        attempt = 1
        while True:
            try:
                return await super().feed_update(bot, update, **kwargs)
            except Exception as exc:
                down = outage(exc)
                if down is None:
                    raise
                if loop.time() + pause > deadline:
                    await self._give_up(bot, update, down, attempt)
                    return UNHANDLED
                logger.info(
                    "update {} waits {:.1f} s for the {} (attempt {})",
                    update.update_id,
                    pause,
                    down,
                    attempt,
                )
            try:
                await self.sleep(pause)
            except asyncio.CancelledError:  # shutting down mid-outage: keep what must not be lost
                if self.parked is not None and is_membership(update):
                    self.parked.park(update)
                raise
            pause = min(pause * 2, self.longest_pause)
            attempt += 1

    async def _give_up(self, bot: Bot, update: Update, down: str, attempts: int) -> None:
        if is_membership(update) and self.parked is not None:
            self.parked.park(update)
            logger.warning(
                "update {} kept for later: the {} is still unavailable after {} attempts",
                update.update_id,
                down,
                attempts,
            )
            return
        logger.warning(
            "update {} dropped after {} attempts: the {} is unavailable; the sender is asked "
            "to try again",
            update.update_id,
            attempts,
            down,
        )
        with contextlib.suppress(TelegramAPIError, asyncio.TimeoutError):
            await self._ask_to_retry(bot, update)

    async def _ask_to_retry(self, bot: Bot, update: Update) -> None:
        if self.i18n is None:
            return
        with self.i18n.context(), self.i18n.use_locale(sender_language(update)):
            text = _("Sorry, I cannot do that right now. Please try again in a moment.")
        if update.callback_query is not None:
            await bot.answer_callback_query(update.callback_query.id, text, show_alert=True)
        elif update.message is not None and update.message.chat.type == "private":
            await bot.send_message(update.message.chat.id, text)

    async def replay_parked(self, bot: Bot) -> int:
        """Run the kept updates again, oldest first; stop at the first that still cannot run.
        Returns how many were handled."""
        if self.parked is None:
            return 0
        waiting = self.parked.load()
        done = 0
        for raw in waiting:
            update = Update.model_validate(raw, context={"bot": bot})
            try:
                await super().feed_update(bot, update)
            except Exception as exc:
                if outage(exc) is not None:
                    break
                logger.opt(exception=exc).error("kept update {} failed", update.update_id)
            done += 1
        if done:
            self.parked.keep_only(waiting[done:])
            logger.info("{} kept updates handled, {} still waiting", done, len(waiting) - done)
        return done
