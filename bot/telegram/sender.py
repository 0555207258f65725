"""The one outbound pipe: every message the product sends outside a reply (notices, race
news, reminders, results, payout decisions) is a row of the outbox, delivered by this paced
sender: ~30 messages a second overall, one a second per chat.

It honours RetryAfter (everything waits), marks users who blocked the bot and never fails a
job because of them; the outbox records what was sent, so nothing goes out twice. A refusal
(400) is recorded with its reason and not tried again. Telegram failing (5xx, a proxy's error
page, a timeout, no connection) makes everything wait, longer each time in a row, and the row
is tried again later, up to MAX_ATTEMPTS, then recorded as given up.

A timeout is the one case where a message can go out twice: Telegram may have taken it and
only its answer was lost, and the Bot API has no idempotency key to ask. Such a row is sent
again (at least once rather than maybe never) and the second send is logged as a possible
duplicate. With
PAID_BROADCAST, messages go out with allow_paid_broadcast and the overall pace rises to what
Telegram allows for paid broadcasts. A scheduled job drains the outbox every few seconds
under the scheduler lease; `wake()` delivers what was just queued at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from loguru import logger

from bot.lease import Lease
from bot.live import Bell
from bot.metrics import Metrics
from bot.services.affiliates import AffiliateService
from bot.services.outbox import BLOCKED, OutboxService
from bot.telegram.flood import caller_handles_floods
from models import Outbox

FREE_RATE = 30
PAID_RATE = 1000
PER_CHAT = 1.0
CHATS_KEPT = 100_000
BACKOFF_FIRST = 2.0  # seconds everything waits after Telegram failed once
BACKOFF_MOST = 120.0  # ... doubling each failure in a row, up to this
TIMEOUT = "Request timeout error"  # aiogram's words for a request that got no answer in time


class Pacer:
    """At most `rate` sends in any one-second window, and one per chat per second."""

    def __init__(
        self,
        rate: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[float] = deque()
        self._last: dict[int, float] = {}

    def chat_ready(self, chat_id: int) -> bool:
        last = self._last.get(chat_id)
        return last is None or self.clock() - last >= PER_CHAT

    async def wait(self) -> None:
        """Wait for a free slot in the overall one-second window."""
        while True:
            now = self.clock()
            while self._sent and now - self._sent[0] >= 1.0:
                self._sent.popleft()
            if len(self._sent) < self.rate:
                return
            await self.sleep(1.0 - (now - self._sent[0]))

    async def turn(self, chat_id: int) -> None:
        """Wait until this chat and the overall window both have room, then take the slot."""
        while not self.chat_ready(chat_id):
            await self.sleep(PER_CHAT - (self.clock() - self._last[chat_id]))
        await self.wait()
        self.record(chat_id)  # taken before the send: nobody else gets this slot meanwhile

    def record(self, chat_id: int) -> None:
        now = self.clock()
        self._sent.append(now)
        self._last[chat_id] = now
        if len(self._last) > CHATS_KEPT:  # forget chats not heard of for a while
            self._last = {c: t for c, t in self._last.items() if now - t < PER_CHAT}


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        outbox: OutboxService,
        affiliates: AffiliateService,
        paid: bool = False,
        pacer: Pacer | None = None,
        paid_pacer: Pacer | None = None,
    ) -> None:
        self.bot = bot
        self.outbox = outbox
        self.affiliates = affiliates
        self.pacer = pacer or Pacer(FREE_RATE)  # notices always; everything unless paid
        self.paid_pacer = (paid_pacer or Pacer(PAID_RATE)) if paid else None
        self._draining = asyncio.Lock()  # one drain at a time: a row is never sent twice
        self._lease: Lease | None = None  # set by start(): wake() delivers while we hold it
        self._woken: asyncio.Task[None] | None = None
        self.bell: Bell | None = None  # set when wired: wakes the leader in another process
        self.metrics: Metrics | None = None  # sends by result, when wired
        self.backoff = 0.0  # the current wait after Telegram failed; 0 once a send goes through
        self.resume_at = 0.0  # (pacer clock) nothing is sent before this, after a failure

    def _pacer(self, row: Outbox) -> Pacer:
        return self.paid_pacer if self.paid_pacer is not None and row.bulk else self.pacer

    def start(self, lease: Lease) -> None:
        """Deliver on wake() from now on (the running process; tests drain by hand)."""
        self._lease = lease

    def wake(self) -> None:
        """Something was queued: deliver it now rather than at the next scheduled drain. The
        process that leads the scheduler delivers; any other rings the bell it listens to."""
        self.wake_here()
        if self.bell is not None and not (self._lease is not None and self._lease.held):
            self.bell.ring()

    def wake_here(self) -> None:
        """Deliver now if this process holds (or can take) the scheduler lease."""
        if self._lease is None or (self._woken is not None and not self._woken.done()):
            return
        self._woken = asyncio.create_task(self._drain_woken(self._lease))

    async def _drain_woken(self, lease: Lease) -> None:
        try:
            if await lease.hold():
                await self.drain()
        except Exception as exc:  # the scheduled drain tries again
            logger.warning("outbox delivery on wake failed: {!r}", exc)

    async def close(self) -> None:
        if self.bell is not None:
            await self.bell.close()
        if self._woken is not None:
            self._woken.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._woken

    async def drain(self, seconds: float = 5.0) -> int:
        """Send what is waiting for about `seconds`; return how many were delivered."""
        async with self._draining:
            with caller_handles_floods():  # a 429 pauses the whole outbox, not one send
                return await self._drain(seconds)

    async def _drain(self, seconds: float) -> int:
        deadline = self.pacer.clock() + seconds
        delivered = 0
        while self.pacer.clock() < deadline:
            rows = await self.outbox.pending(limit=200)
            if not rows:
                break
            progressed = False
            for row in rows:
                if self.pacer.clock() < self.resume_at:  # Telegram failed a moment ago
                    await self.pacer.sleep(min(self.resume_at, deadline) - self.pacer.clock())
                    progressed = True
                    break  # rows read afresh: one may have been cancelled or paused meanwhile
                if self.pacer.clock() >= deadline:
                    break
                pacer = self._pacer(row)
                if not pacer.chat_ready(row.chat_id):
                    continue  # this chat had a message this second: it waits its turn
                await pacer.wait()
                progressed = True
                delivered += await self._send(row, pacer)
            if not progressed:
                await self.pacer.sleep(0.2)
        return delivered

    async def _send(self, row: Outbox, pacer: Pacer) -> int:
        paid = True if pacer is self.paid_pacer else None
        while True:
            try:
                await self._deliver(row, paid)
            except TelegramRetryAfter as exc:
                logger.warning("flood limit: waiting {} s", exc.retry_after)
                self.count("flood_wait")
                await pacer.sleep(float(exc.retry_after))
                continue
            except TelegramForbiddenError:
                await self.affiliates.mark_blocked(row.chat_id)
                await self.outbox.done(row, BLOCKED)
                self.count("blocked")
                return 0
            except (TelegramBadRequest, TelegramEntityTooLarge) as exc:  # this message: never
                await self.outbox.done(row, exc.message)
                self.count("failed")
                return 0
            except (TelegramAPIError, ClientDecodeError) as exc:  # Telegram failing: later
                await self._failed(row, exc)
                return 0
            finally:
                pacer.record(row.chat_id)
            if row.error is not None and row.error.startswith(TIMEOUT):
                logger.warning(
                    "outbox {} to {} sent again after a timeout: Telegram may have taken the "
                    "first one too (a possible duplicate)",
                    row.key,
                    row.chat_id,
                )
            self.backoff = 0.0
            await self.outbox.done(row)
            self.count("sent")
            return 1

    async def _failed(self, row: Outbox, exc: TelegramAPIError | ClientDecodeError) -> None:
        """A 5xx, a timeout, no connection, an answer that is not Telegram's: the row is tried
        again later (or given up after MAX_ATTEMPTS) and everything waits a growing while."""
        reason = exc.message if isinstance(exc, TelegramAPIError) else f"not JSON: {exc}"
        await self.outbox.retry_later(row, reason)
        self.count("retry")
        self.backoff = min(max(self.backoff * 2, BACKOFF_FIRST), BACKOFF_MOST)
        logger.warning(
            "outbox {} to {} not sent ({}): everything waits {} s",
            row.key,
            row.chat_id,
            reason,
            self.backoff,
        )
        self.resume_at = self.pacer.clock() + self.backoff

    async def _deliver(self, row: Outbox, paid: bool | None) -> None:
        markup = None
        if row.buttons:
            markup = InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text=t, url=u)] for t, u in row.buttons]
            )
        if row.photo:
            await self.bot.send_photo(
                row.chat_id,
                row.photo,
                caption=row.text or None,
                reply_markup=markup,
                allow_paid_broadcast=paid,
            )
        else:
            await self.bot.send_message(
                row.chat_id, row.text, reply_markup=markup, allow_paid_broadcast=paid
            )

    def count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.sends.labels(result).inc()
