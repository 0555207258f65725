"""The one place that sends news to users outside a reply: paced, folded, block-aware."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from html import escape

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import LockError

from bot.i18n import pick_language
from bot.services.affiliates import AffiliateService
from bot.services.referrals import ReferralNotice, ReferralService


class Notifier:
    """Tells referrers of new referrals, folding a burst into one message."""

    def __init__(
        self,
        bot: Bot,
        i18n: I18n,
        redis: Redis,
        affiliates: AffiliateService,
        referrals: ReferralService,
        fold_delay: float,
    ) -> None:
        self.bot = bot
        self.i18n = i18n
        self.redis = redis
        self.affiliates = affiliates
        self.referrals = referrals
        self.fold_delay = fold_delay
        self._timers: dict[int, asyncio.Task[None]] = {}

    def referral_credited(self, referrer_id: int) -> None:
        """Schedule one notice for this referrer after the fold delay; later credits join it."""
        timer = self._timers.get(referrer_id)
        if timer is not None and not timer.done():
            return
        self._timers[referrer_id] = asyncio.create_task(self._flush_later(referrer_id))

    async def _flush_later(self, referrer_id: int) -> None:
        try:
            await asyncio.sleep(self.fold_delay)
            await self.flush_referrals(referrer_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("referral notice for {} failed; the sweep will retry", referrer_id)
        finally:
            self._timers.pop(referrer_id, None)

    async def flush_referrals(self, referrer_id: int) -> bool:
        """Send the waiting referrals of one referrer as one message; True if it was delivered.

        Either way they are marked told, so nothing is sent twice.
        """
        lock = self.redis.lock(f"lock:refnotice:{referrer_id}", timeout=60)
        if not await lock.acquire(blocking=False):
            return False
        try:
            notice = await self.referrals.pending_notice(referrer_id)
            if notice is None:
                return False
            sent = False
            if notice.wants_news:  # notifications off, or the bot is blocked: skip quietly
                sent = await self.send(notice.referrer_tg_id, self._render(notice))
            await self.referrals.mark_notified(referrer_id, notice.last_id)
            return sent
        finally:
            with contextlib.suppress(LockError):
                await lock.release()

    async def sweep_referrals(self) -> int:
        """Flush every referrer whose notice was left behind (a restart, another instance)."""
        sent = 0
        for referrer_id in await self.referrals.referrers_waiting(
            timedelta(seconds=self.fold_delay + 5)
        ):
            if referrer_id in self._timers:
                continue
            sent += await self.flush_referrals(referrer_id)
        return sent

    def _render(self, notice: ReferralNotice) -> str:
        locale = pick_language(notice.referrer_language, notice.referrer_tg_language)
        with self.i18n.context(), self.i18n.use_locale(locale):
            total = notice.total
            names = ", ".join(escape(n) for n in notice.names)
            if total == 1:
                return _("🎉 New referral: <b>{name}</b> joined through your link!").format(
                    name=names
                )
            more = total - len(notice.names)
            text = ngettext(
                "🎉 {count} new referral joined through your links: {names}",
                "🎉 {count} new referrals joined through your links: {names}",
                total,
            ).format(count=total, names=names)
            if more > 0:
                text += " " + _("and {more} more").format(more=more)
            return text

    async def send(self, chat_id: int, text: str) -> bool:
        """Send one message; honour RetryAfter once, mark the user blocked on Forbidden."""
        for _attempt in range(3):
            try:
                await self.bot.send_message(chat_id, text)
                return True
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
            except TelegramForbiddenError:
                await self.affiliates.mark_blocked(chat_id)
                return False
        return False

    async def close(self) -> None:
        for timer in list(self._timers.values()):
            timer.cancel()
        await asyncio.gather(*self._timers.values(), return_exceptions=True)
