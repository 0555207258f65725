"""A broadcast's live progress message in its author's chat: sent, blocked, failed and left,
the rate and the time left, edited as the outbox delivers, with Pause / Resume / Cancel; and
the final report when it is over."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from loguru import logger

from bot.i18n import pick_language
from bot.services.broadcasts import BroadcastService, Progress
from keyboards.callbacks import AdminAction, AdminCallback
from models import Affiliate, Broadcast, BroadcastStatus

MINUTE = 60


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < MINUTE:
        return _("{n} s").format(n=seconds)
    return _("{m} min {s} s").format(m=seconds // MINUTE, s=seconds % MINUTE)


def progress_text(b: Broadcast, p: Progress, now: datetime) -> str:
    took = (now - b.created_at).total_seconds()
    counts = _(
        "Sent {sent} · blocked {blocked} · failed {failed} · left {left} of {total}"
    ).format(sent=p.sent, blocked=p.blocked, failed=p.failed, left=p.left, total=p.total)
    if b.status is BroadcastStatus.DONE:
        return (
            _("✅ <b>Broadcast #{id} done</b> in {took}.").format(id=b.id, took=duration(took))
            + "\n"
            + counts
        )
    if b.status is BroadcastStatus.CANCELLED:
        return (
            _("🛑 <b>Broadcast #{id} cancelled</b>: {n} not sent.").format(id=b.id, n=p.cancelled)
            + "\n"
            + counts
        )
    rate = p.done / took if took > 0 else 0.0
    head = (
        _("⏸ <b>Broadcast #{id} paused</b>").format(id=b.id)
        if b.status is BroadcastStatus.PAUSED
        else _("📣 <b>Broadcast #{id} sending</b>").format(id=b.id)
    )
    pace = _("{rate} messages/s").format(rate=f"{rate:.1f}")
    if rate > 0 and b.status is BroadcastStatus.SENDING:
        pace += " · " + _("about {left} left").format(left=duration(p.left / rate))
    return f"{head}\n{counts}\n{pace}"


def progress_kb(b: Broadcast) -> InlineKeyboardMarkup | None:
    if b.status not in (BroadcastStatus.SENDING, BroadcastStatus.PAUSED):
        return None
    kb = InlineKeyboardBuilder()
    if b.status is BroadcastStatus.SENDING:
        kb.button(
            text=_("⏸ Pause"), callback_data=AdminCallback(action=AdminAction.BC_PAUSE, id=b.id)
        )
    else:
        kb.button(
            text=_("▶️ Resume"), callback_data=AdminCallback(action=AdminAction.BC_RESUME, id=b.id)
        )
    kb.button(
        text=_("🛑 Cancel it"), callback_data=AdminCallback(action=AdminAction.BC_CANCEL, id=b.id)
    )
    return kb.as_markup()


class BroadcastReporter:
    def __init__(
        self,
        bot: Bot,
        i18n: I18n,
        broadcasts: BroadcastService,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.i18n = i18n
        self.broadcasts = broadcasts
        self.clock = clock
        # chat -> when Telegram allows editing there again: after a 429 the sweep leaves the
        # progress message alone for retry_after seconds (asking sooner prolongs the wait).
        self._quiet_until: dict[int, float] = {}
        self._owed: dict[int, Broadcast] = {}  # ended, their last state not shown yet

    async def report(self) -> None:
        """Every unfinished broadcast's message brought up to date (a sweep: idempotent), and
        the last state of finished ones whose last edit did not go through yet."""
        sweep = {b.id: b for b in await self.broadcasts.unfinished()}
        for broadcast in [*sweep.values(), *self._owed.values()]:
            await self.report_one(broadcast)

    async def report_one(self, broadcast: Broadcast) -> None:
        progress = await self.broadcasts.progress(broadcast)
        if broadcast.status is BroadcastStatus.SENDING and progress.left == 0:
            await self.broadcasts.finish(broadcast)
        chat = broadcast.progress_chat_id
        if chat is None or broadcast.progress_message_id is None:
            return
        ended = broadcast.status in (BroadcastStatus.DONE, BroadcastStatus.CANCELLED)
        if self.clock() >= self._quiet_until.get(chat, 0.0) and await self._show(
            broadcast, chat, broadcast.progress_message_id, progress
        ):
            self._owed.pop(broadcast.id, None)
        elif ended:  # no later sweep looks at it: shown once Telegram lets us
            self._owed[broadcast.id] = broadcast

    async def _show(
        self, broadcast: Broadcast, chat: int, message_id: int, progress: Progress
    ) -> bool:
        """Edit the progress message; False if Telegram did not take the edit."""
        author = await Affiliate.get_or_none(tg_id=broadcast.author_tg_id)
        locale = pick_language(
            author.language if author else None, author.tg_language if author else None
        )
        with self.i18n.context(), self.i18n.use_locale(locale):
            text = progress_text(broadcast, progress, datetime.now(UTC))
            markup = progress_kb(broadcast)
        try:
            await self.bot.edit_message_text(
                text, chat_id=chat, message_id=message_id, reply_markup=markup
            )
        except TelegramBadRequest as exc:  # "not modified", or an edit no retry would make
            if "not modified" not in exc.message:
                logger.warning("broadcast {} progress not shown: {}", broadcast.id, exc.message)
            return True
        except TelegramRetryAfter as exc:
            self._quiet_until[chat] = self.clock() + exc.retry_after
            logger.warning(
                "broadcast {} progress: Telegram asks to wait {} s before the next edit",
                broadcast.id,
                exc.retry_after,
            )
            return False
        except (TelegramAPIError, ClientDecodeError) as exc:  # 5xx, timeouts: next sweep
            logger.warning("broadcast {} progress not shown: {!r}", broadcast.id, exc)
            return False
        return True
