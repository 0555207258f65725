"""Requests that arrive together go to the database together. Group commit: written together,
each caller waiting for its own batch's commit (the click and the conversion writers). Group
lookup: read together, each caller getting its own row (the postbacks' clicks)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from loguru import logger

from bot.errors import Unavailable, outage
from bot.services.sql import connection, is_postgres

Item = TypeVar("Item")
Result = TypeVar("Result")
Key = TypeVar("Key", bound=Hashable)
Row = TypeVar("Row")


class GroupCommit(Generic[Item, Result]):
    """Collects items, stores them in batches (a few in flight), answers each caller."""

    name = "batch"

    def __init__(self, max_batch: int, concurrency: int = 3) -> None:
        self.max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None  # made once the database is known
        self._inflight: set[asyncio.Task[None]] = set()
        self._closed = False

    async def submit(self, item: Item) -> Result:
        """Queue one item and wait until its batch is committed."""
        if self._closed:
            raise RuntimeError(f"{self.name} writer is closed")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"{self.name}-writer")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._wake.set()
        return await future

    async def store(self, items: list[Item]) -> list[Result]:
        """Write one batch in one transaction; a result per item, in order."""
        raise NotImplementedError

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:
            # SQLite is one connection that tortoise takes in turn: a second batch in flight
            # would only wait for it, and leave both batches smaller.
            postgres = is_postgres(connection())
            self._slots = asyncio.Semaphore(self.concurrency if postgres else 1)
        return self._slots

    async def _run(self) -> None:
        slots = self._semaphore()
        while not self._closed or self._pending:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            await asyncio.sleep(0)  # let requests already running join this batch
            await slots.acquire()  # a few batches in flight: round trips overlap
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            task = asyncio.create_task(self._flush(batch))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if self._inflight:
            await asyncio.gather(*self._inflight)

    async def _flush(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await store_isolating(self.store, [item for item, _ in batch], self.name)
        finally:
            self._semaphore().release()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Finish what was already accepted, then stop."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task


async def store_isolating(
    store: Callable[[list[Item]], Awaitable[Sequence[Result]]], items: list[Item], name: str
) -> list[Result | BaseException]:
    """Store a batch; if it fails on its data, store its halves apart, down to the one item
    that fails, so that no valid item fails because of another. An outage fails them all at
    once (retrying each would only wait on the same dead dependency again)."""
    try:
        return list(await store(items))
    except Exception as exc:
        if outage(exc) is not None:
            logger.warning("could not store {} {} items: {!r}", len(items), name, exc)
            return [exc] * len(items)
        if len(items) == 1:
            logger.opt(exception=exc).error("one {} item could not be stored", name)
            return [exc]
    middle = len(items) // 2
    return [
        *await store_isolating(store, items[:middle], name),
        *await store_isolating(store, items[middle:], name),
    ]


Waiters = dict[Key, list[asyncio.Future[Row | None]]]


class GroupLookup(Generic[Key, Row]):
    """Reads rows by key, the keys asked for together in one query: those asked while the
    event loop ran once and, under load, those asked while the last read was out. By default
    one read is out at a time and the keys asked meanwhile wait for the next one, so batches
    grow with the load. `read` gets distinct keys and returns the rows it found by key.

    A read that has not answered in `wait` seconds (None: no limit) fails its callers and
    those queued behind it with `Unavailable`, and so does every `get()` until it ends. Give
    it what a query waits for a connection: a database that stopped answering then answers
    each caller no later than a query of its own would have (one timer a read, not one a
    caller, which cost a sixth of a postback's CPU time).

    Each read runs in a task of its own, in a copy of the context the lookup was made in (at
    start-up), never in a caller's: a caller inside a transaction would otherwise lend its
    connection to the others' reads, and its log context to them."""

    def __init__(
        self,
        read: Callable[[list[Key]], Awaitable[dict[Key, Row]]],
        max_batch: int = 500,
        concurrency: int = 1,
        wait: float | None = None,
    ) -> None:
        self.read = read
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.wait = wait
        self._context = contextvars.copy_context()
        self._waiting: Waiters[Key, Row] = {}
        self._out = 0  # reads running
        self._overdue: set[int] = set()  # reads out for longer than `wait`, by id of their batch
        self._soon = False  # a start is already scheduled for this turn of the loop
        self._reads: set[asyncio.Task[dict[Key, Row]]] = set()

    async def get(self, key: Key) -> Row | None:
        """The row for `key`, or None when there is none."""
        if self._overdue:
            raise Unavailable("database")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Row | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if not self._soon and self._out < self.concurrency:
            self._soon = True
            loop.call_soon(self._scheduled)  # after the other requests of this turn asked
        return await future

    def _scheduled(self) -> None:
        self._soon = False
        self._start()

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting and self._out < self.concurrency:
            keys = list(itertools.islice(self._waiting, self.max_batch))
            batch = {key: self._waiting.pop(key) for key in keys}
            self._out += 1
            task = asyncio.create_task(self._read(keys), context=self._context.copy())
            self._reads.add(task)
            watchdog = None
            if self.wait is not None:
                watchdog = loop.call_later(self.wait, self._late, batch)
            # A callback, not a `finally`: it runs even for a task cancelled before it began.
            task.add_done_callback(functools.partial(self._settle, batch, watchdog))

    async def _read(self, keys: list[Key]) -> dict[Key, Row]:
        return await self.read(keys)

    def _late(self, batch: Waiters[Key, Row]) -> None:
        """The read of `batch` has not answered in `wait` seconds."""
        self._overdue.add(id(batch))
        waiting, self._waiting = self._waiting, {}
        _answer([*batch.items(), *waiting.items()], {}, Unavailable("database"))

    def _settle(
        self,
        batch: Waiters[Key, Row],
        watchdog: asyncio.TimerHandle | None,
        task: asyncio.Task[dict[Key, Row]],
    ) -> None:
        self._reads.discard(task)
        self._out -= 1
        self._overdue.discard(id(batch))
        if watchdog is not None:
            watchdog.cancel()
        rows: dict[Key, Row | None] = {}
        error: BaseException | None = None
        groups = list(batch.items())
        if task.cancelled():  # the process is stopping: nobody waits for an answer forever
            error = Unavailable("database")
            groups += self._waiting.items()
            self._waiting = {}
        else:
            try:
                found = task.result()
                rows = {key: found.get(key) for key in batch}
            except Exception as exc:  # each caller answers for itself (an outage: a 503 each)
                error = exc
        _answer(groups, rows, error)
        if not task.cancelled():
            self._start()


def _answer(
    groups: list[tuple[Key, list[asyncio.Future[Row | None]]]],
    rows: dict[Key, Row | None],
    error: BaseException | None,
) -> None:
    """Each caller still waiting gets its row, or the error."""
    for key, futures in groups:
        for future in futures:
            if future.done():  # answered already, or its caller has gone
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(rows[key])
