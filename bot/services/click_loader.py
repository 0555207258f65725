"""The click loader: reads the spool from its checkpoint and stores the clicks in batches, in
the background of the process that wrote them. The checkpoint moves only after a commit, and a
batch stored twice changes nothing, so a crash at any point loses no click and counts none
twice. While the database is away it retries with backoff; the redirects are not held."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from loguru import logger

from bot.errors import outage
from bot.services.batching import store_isolating
from bot.services.click_store import ClickStore, PendingClick, decode
from bot.services.spool import Chunk, Position, Spool, SpoolBusy

BATCH = 250  # clicks per batch while the loader keeps up: a batch is CPU redirects wait behind
CATCH_UP_BATCH = 2000  # per batch while a backlog is worked off (after an outage, a restart)
CATCH_UP_AFTER = 20_000  # clicks waiting (seconds of heavy traffic) that make it a backlog
RETRY_FIRST = 0.25  # seconds before the first retry after an outage, doubled up to RETRY_MOST
RETRY_MOST = 5.0
WAKE_SECONDS = 1.0  # the loader looks at the spool at least this often
BACKLOG_LOG_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Backlog:
    """What the spool holds that the database does not have yet."""

    clicks: int
    seconds: float  # how long the oldest of them has waited (0 when there is none)
    lost: int  # clicks whose redirect was answered but that could not be spooled
    damaged: int  # records skipped as unreadable
    rejected: int  # records the database refused on their own (logged one by one)
    error: str | None  # why the spool cannot be written, while it cannot


class ClickLoader:
    """Moves clicks from the spool into the database, forever, until closed."""

    def __init__(
        self,
        spool: Spool,
        store: ClickStore,
        interval_ms: int = 200,
        backlog_warn: int = 100_000,
        batch: int = BATCH,
    ) -> None:
        self.spool = spool
        self.store = store
        self.interval = interval_ms / 1000
        self.backlog_warn = backlog_warn
        self.batch = batch
        self.loaded = 0  # clicks stored (or refused) from what this process appended
        self.damaged = 0
        self.rejected = 0
        self._position: Position | None = None
        self._held: list[PendingClick] = []  # read and not stored yet
        self._stored_at = time.monotonic()
        self._wake = asyncio.Event()
        self._stopping = False
        self._closing = asyncio.Event()
        self._replaying = False
        self._task: asyncio.Task[None] | None = None
        self._warned_at = 0.0
        self._lock = asyncio.Lock()  # one batch at a time, whoever asks
        spool.on_append = self._wake.set

    async def start(self) -> None:
        """Open the spool, store what an earlier run left in it (before anything reads
        clicks), then keep loading in the background."""
        try:
            self.spool.open()
        except SpoolBusy:
            raise
        except OSError as exc:
            logger.error(
                "the click spool {} cannot be written ({}): redirects are answered but their "
                "clicks are not counted until it can",
                self.spool.directory,
                exc,
            )
        left = await self.replay()
        if left:
            logger.info("stored {} clicks that an earlier run had left in the spool", left)
        self.spool.start()
        self._task = asyncio.create_task(self._run(), name="click-loader")

    async def replay(self) -> int:
        """Store everything the spool holds now, retrying through outages; how many clicks."""
        before = self.loaded
        self._replaying = True
        try:
            await self.load_all(deadline=None)
        finally:
            self._replaying = False
        replayed = self.loaded - before
        self.loaded = before  # the backlog counts what this process appends from now on
        return replayed

    async def load_all(self, deadline: float | None = None) -> bool:
        """Store what the spool holds, batch by batch; True once it is all stored. Outages are
        retried with backoff until `deadline` (a loop time; None: no end)."""
        delay = RETRY_FIRST
        while True:
            try:
                if not await self._load_batch():
                    return True
                delay = RETRY_FIRST
            except Exception as exc:
                if outage(exc) is None:
                    raise
                loop_time = asyncio.get_running_loop().time()
                if deadline is not None and loop_time + delay > deadline:
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MOST)

    async def settle(self, seconds: float = 1.0) -> bool:
        """Store what is spooled now, for up to `seconds`: for a reader that must see a click
        made a moment ago (an advertiser's postback naming it). True if all was stored."""
        try:
            return await self.load_all(deadline=asyncio.get_running_loop().time() + seconds)
        except Exception:
            logger.exception("the click spool could not be loaded on demand")
            return False

    async def _load_batch(self) -> bool:
        """Read and store one batch; False if there was nothing to read."""
        async with self._lock:
            return await self._load_batch_locked()

    async def _load_batch_locked(self) -> bool:
        position = self._position or self.spool.checkpoint()
        # Reading and decoding a batch is pure CPU: in a thread, the redirects sharing the
        # loop wait for it a few milliseconds at most (the interpreter's switch interval).
        chunk, self._held = await asyncio.to_thread(self._read, position)
        if self._held:
            results = await store_isolating(self.store.store, self._held, "click")
            for result in results:
                if isinstance(result, BaseException) and outage(result) is not None:
                    raise result  # nothing moves: the same batch is stored again later
            self.rejected += sum(isinstance(r, BaseException) for r in results)
        self._stored_at = time.monotonic()
        self.loaded += len(chunk.records)
        self._held = []
        moved = chunk.end != position
        if moved:  # in a thread: deleting a loaded segment can take milliseconds (discard)
            await asyncio.to_thread(self.spool.save_checkpoint, chunk.end)
        self._position = chunk.end
        return moved

    def _read(self, position: Position) -> tuple[Chunk, list[PendingClick]]:
        behind = self.spool.appended - self.loaded > CATCH_UP_AFTER or self._replaying
        chunk = self.spool.read(position, CATCH_UP_BATCH if behind else self.batch)
        self.damaged += chunk.damaged
        clicks = []
        for record in chunk.records:
            try:
                clicks.append(decode(record))
            except ValueError as exc:
                self.damaged += 1
                logger.error("a click record in the spool was skipped: {}", exc)
        return chunk, clicks

    async def _run(self) -> None:
        delay = RETRY_FIRST
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WAKE_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            await self._pause(self.interval)  # let a batch gather
            try:
                while await self._load_batch() and not self._stopping:
                    pass
                delay = RETRY_FIRST
            except Exception as exc:
                if outage(exc) is None:
                    logger.exception("the click loader failed; it tries again")
                else:
                    logger.warning("clicks wait in the spool: the {} is unavailable", outage(exc))
                self._wake.set()  # come back after the backoff, not after the next click
                await self._pause(delay)
                delay = min(delay * 2, RETRY_MOST)
            self._warn_if_behind()

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless the loader is being closed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()

    def _warn_if_behind(self) -> None:
        backlog = self.backlog()
        now = time.monotonic()
        if backlog.clicks > self.backlog_warn and now - self._warned_at >= BACKLOG_LOG_SECONDS:
            self._warned_at = now
            logger.warning(
                "{} clicks wait in the spool, the oldest for {:.0f} s (CLICK_SPOOL_BACKLOG_WARN "
                "is {})",
                backlog.clicks,
                backlog.seconds,
                self.backlog_warn,
            )

    def backlog(self) -> Backlog:
        clicks = max(self.spool.appended - self.loaded, 0)
        if self._held:
            seconds = time.time() - self._held[0].created_at.timestamp()
        elif clicks:
            seconds = time.monotonic() - self._stored_at
        else:
            seconds = 0.0
        return Backlog(
            clicks=clicks,
            seconds=round(max(seconds, 0.0), 3),
            lost=self.spool.lost,
            damaged=self.damaged,
            rejected=self.rejected,
            error=self.spool.error,
        )

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Stop, after storing what the spool holds (for up to `drain_seconds` while the
        database is away: what is left is stored at the next start)."""
        self._stopping = True
        self._closing.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        deadline = asyncio.get_running_loop().time() + drain_seconds
        try:
            done = await self.load_all(deadline=deadline)
        except Exception:
            logger.exception("the click spool could not be drained")
            done = False
        if not done:
            logger.warning(
                "{} clicks are left in the spool {}: they are stored at the next start",
                self.backlog().clicks,
                self.spool.directory,
            )
        await self.spool.close()
        if done:  # the last segment is finished now: read past its end, so that it goes
            with contextlib.suppress(Exception):
                await self._load_batch()
        await self.store.close()
