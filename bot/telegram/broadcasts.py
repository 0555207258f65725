"""A broadcast's live progress message in its author's chat: sent, blocked, failed and left,
the rate and the time left, edited as the outbox delivers, with Pause / Resume / Cancel; and
the final report when it is over."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramAPIError, TelegramBadRequest
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
    def __init__(self, bot: Bot, i18n: I18n, broadcasts: BroadcastService) -> None:
        self.bot = bot
        self.i18n = i18n
        self.broadcasts = broadcasts

    async def report(self) -> None:
        """Every unfinished broadcast's message brought up to date (a sweep: idempotent)."""
        for broadcast in await self.broadcasts.unfinished():
            await self.report_one(broadcast)

    async def report_one(self, broadcast: Broadcast) -> None:
        progress = await self.broadcasts.progress(broadcast)
        if broadcast.status is BroadcastStatus.SENDING and progress.left == 0:
            await self.broadcasts.finish(broadcast)
        if broadcast.progress_chat_id is None or broadcast.progress_message_id is None:
            return
        author = await Affiliate.get_or_none(tg_id=broadcast.author_tg_id)
        locale = pick_language(
            author.language if author else None, author.tg_language if author else None
        )
        with self.i18n.context(), self.i18n.use_locale(locale):
            text = progress_text(broadcast, progress, datetime.now(UTC))
            markup = progress_kb(broadcast)
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=broadcast.progress_chat_id,
                message_id=broadcast.progress_message_id,
                reply_markup=markup,
            )
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                logger.warning("broadcast {} progress not shown: {}", broadcast.id, exc.message)
        except (TelegramAPIError, ClientDecodeError) as exc:  # 429, 5xx, timeouts: next sweep
            logger.warning("broadcast {} progress not shown: {!r}", broadcast.id, exc)
