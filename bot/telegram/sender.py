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
duplicate.

With PAID_BROADCAST, bulk messages go out with allow_paid_broadcast and the overall pace rises
to what Telegram allows for paid broadcasts (1,000 a second), too fast for one send at a time:
up to IN_FLIGHT of them are then in flight at once, each row in at most one send and each chat
in at most one, and a send's slot in the pace is dated when its answer comes (Telegram took it
before that), so the pace holds whatever the latency. A 429 pauses everything: the sends in
flight finish, none starts until retry_after has passed. Rows Telegram accepted are recorded
in batches of up to RECORD_BATCH, and all are recorded before the outbox is read again. A
crash (kill -9) can therefore send again what was in flight and what was accepted but not yet
recorded: at most IN_FLIGHT + RECORD_BATCH messages, where one at a time it is at most one.
Notices to one person still go first, one at a time, at the free pace.

A scheduled job drains the outbox every few seconds under the scheduler lease; `wake()`
delivers what was just queued at once.
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
IN_FLIGHT = 48  # paid mode: sends awaiting an answer at once (1,000/s x latency, with room)
RECORD_BATCH = 32  # paid mode: accepted rows recorded by one UPDATE
BATCH = 200  # rows read at a time (one at a time, free pace)
PAID_BATCH = 500  # ... in paid mode (read when nothing is in flight)


class Pacer:
    """At most `rate` sends in any one-second window, and one per chat per second. A send is
    dated when its answer comes; one still in flight (take() .. land()) holds a slot of the
    window and its chat meanwhile."""

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
        self._flying = 0  # taken, not landed
        self._busy: set[int] = set()  # their chats
        self._landed = asyncio.Event()

    def chat_ready(self, chat_id: int) -> bool:
        if chat_id in self._busy:
            return False
        last = self._last.get(chat_id)
        return last is None or self.clock() - last >= PER_CHAT

    async def wait(self) -> None:
        """Wait for a free slot in the overall one-second window."""
        while True:
            now = self.clock()
            while self._sent and now - self._sent[0] >= 1.0:
                self._sent.popleft()
            if len(self._sent) + self._flying < self.rate:
                return
            if self._sent:
                await self.sleep(1.0 - (now - self._sent[0]))
            else:  # every slot is held by a send in flight: the first answer dates one
                self._landed.clear()
                await self._landed.wait()

    def take(self, chat_id: int) -> None:
        """A send starts (after wait(), with the chat ready): it holds a slot and its chat."""
        self._flying += 1
        self._busy.add(chat_id)

    def land(self, chat_id: int) -> None:
        """Its answer came: the slot is dated now, and the chat's next send a second later."""
        self._flying -= 1
        self._busy.discard(chat_id)
        self.record(chat_id)
        self._landed.set()

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
        in_flight: int = IN_FLIGHT,
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
        self._slots = asyncio.Semaphore(in_flight)  # paid mode: sends in flight at once
        self._flights: list[asyncio.Task[int]] = []  # paid sends started since the last settle
        self._accepted: list[Outbox] = []  # taken by Telegram, not yet recorded
        self._epoch = 0  # failures so far: a send started before the latest one is no news

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
        batch = BATCH if self.paid_pacer is None else PAID_BATCH
        try:
            while self.pacer.clock() < deadline:
                rows = await self.outbox.pending(limit=batch)
                if not rows:
                    break
                progressed = False
                for row in rows:
                    if self.pacer.clock() < self.resume_at:  # Telegram failed a moment ago
                        delivered += await self._settle()
                        await self.pacer.sleep(min(self.resume_at, deadline) - self.pacer.clock())
                        progressed = True
                        break  # rows read afresh: one may have been cancelled or paused meanwhile
                    if self.pacer.clock() >= deadline:
                        break
                    pacer = self._pacer(row)
                    if not pacer.chat_ready(row.chat_id):
                        continue  # this chat had a message this second: it waits its turn
                    progressed = True
                    if pacer is self.paid_pacer:
                        await self._start(row, pacer, deadline)
                        continue
                    await pacer.wait()
                    delivered += await self._send(row, pacer)
                delivered += await self._settle()  # all recorded before the rows are read again
                if not progressed:
                    await self.pacer.sleep(0.2)
        except BaseException:
            await self._abandon()
            raise
        return delivered

    async def _start(self, row: Outbox, pacer: Pacer, deadline: float) -> None:
        """Paid mode: start sending `row` once a slot in flight and one in the pace are free,
        unless meanwhile everything was paused or time is up (then it waits for a later read)."""
        await self._slots.acquire()
        started = False
        try:
            await pacer.wait()
            if self.pacer.clock() < self.resume_at or self.pacer.clock() >= deadline:
                return
            pacer.take(row.chat_id)  # no await since wait(): nobody took the slot meanwhile
            self._flights.append(asyncio.create_task(self._fly(row, pacer, self._epoch)))
            started = True
        finally:
            if not started:
                self._slots.release()

    async def _fly(self, row: Outbox, pacer: Pacer, epoch: int) -> int:
        try:
            delivered = await self._send(row, pacer, epoch)
        finally:
            pacer.land(row.chat_id)
            self._slots.release()
        if len(self._accepted) >= RECORD_BATCH:
            await self._record()
        return delivered

    async def _settle(self) -> int:
        """Wait for every send in flight and record what Telegram accepted; return how many
        were delivered. Afterwards the outbox table says how each row stands."""
        flights, self._flights = self._flights, []
        if flights:
            await asyncio.wait(flights)
        await self._record()
        for flight in flights:
            if (error := flight.exception()) is not None:
                raise error
        return sum(flight.result() for flight in flights)

    async def _abandon(self) -> None:
        """The drain failed or was cancelled: the sends in flight are cancelled (one Telegram
        took is sent again later: at least once) and what it accepted is recorded if it can be."""
        flights, self._flights = self._flights, []
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._record()

    async def _record(self) -> None:
        rows, self._accepted = self._accepted, []
        if rows:
            await self.outbox.done_many(rows)

    async def _send(self, row: Outbox, pacer: Pacer, epoch: int | None = None) -> int:
        """Send `row` until it is settled; `epoch` is given when it is one of several in flight
        (paid mode): its slot in the pace is then dated by _fly, and it is recorded in a batch."""
        paid = True if pacer is self.paid_pacer else None
        together = epoch is not None
        while True:
            try:
                await self._deliver(row, paid)
            except TelegramRetryAfter as exc:
                await self._flood_wait(pacer, float(exc.retry_after), together)
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
                await self._failed(row, exc, epoch)
                return 0
            finally:
                if not together:
                    pacer.record(row.chat_id)
            if row.error is not None and row.error.startswith(TIMEOUT):
                logger.warning(
                    "outbox {} to {} sent again after a timeout: Telegram may have taken the "
                    "first one too (a possible duplicate)",
                    row.key,
                    row.chat_id,
                )
            if epoch is None or epoch == self._epoch:  # not one started before a failure
                self.backoff = 0.0
            await self._sent(row, together)
            return 1

    async def _flood_wait(self, pacer: Pacer, retry_after: float, together: bool) -> None:
        logger.warning("flood limit: waiting {} s", retry_after)
        self.count("flood_wait")
        if not together:
            await pacer.sleep(retry_after)
            return
        # everything pauses: no send starts before resume_at, nor this one's second try
        self.resume_at = max(self.resume_at, pacer.clock() + retry_after)
        while pacer.clock() < self.resume_at:
            await pacer.sleep(self.resume_at - pacer.clock())

    async def _sent(self, row: Outbox, together: bool) -> None:
        """Telegram took it: recorded now, or (in flight with others) in the next batch."""
        if together:
            self._accepted.append(row)
        else:
            await self.outbox.done(row)
        self.count("sent")

    async def _failed(
        self, row: Outbox, exc: TelegramAPIError | ClientDecodeError, epoch: int | None = None
    ) -> None:
        """A 5xx, a timeout, no connection, an answer that is not Telegram's: the row is tried
        again later (or given up after MAX_ATTEMPTS) and everything waits a growing while. Of
        sends in flight together, only the first to fail makes the wait longer: the others
        started before Telegram was known to fail."""
        reason = exc.message if isinstance(exc, TelegramAPIError) else f"not JSON: {exc}"
        await self.outbox.retry_later(row, reason)
        self.count("retry")
        if epoch is None or epoch == self._epoch:
            self._epoch += 1
            self.backoff = min(max(self.backoff * 2, BACKOFF_FIRST), BACKOFF_MOST)
            self.resume_at = max(self.resume_at, self.pacer.clock() + self.backoff)
        logger.warning(
            "outbox {} to {} not sent ({}): everything waits {} s",
            row.key,
            row.chat_id,
            reason,
            self.backoff,
        )

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
