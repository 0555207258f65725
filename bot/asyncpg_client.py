"""tortoise's asyncpg client, with every wait for PostgreSQL bounded and a short circuit
while it is down.

tortoise takes connections from asyncpg's pool without a timeout: with a frozen server every
request would queue for the pool for as long as the outage lasts. Here the wait for a
connection is bounded (`DB_ACQUIRE_TIMEOUT`; asyncpg then bounds the release by the same
time), and once a query has failed because the server is down or did not answer, the next
ones fail at once for a second (`PROBE_SECONDS`) instead of each waiting out its own
timeout; then they are let through again, to see whether the server is back.

This module's name must contain "asyncpg": tortoise's migrations choose the PostgreSQL schema
editor by the client's module name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import TransactionContext, TransactionContextPooled

from bot.errors import Unavailable, outage

PROBE_SECONDS = 1.0


class Breaker:
    """Open for a moment after an outage error: callers fail fast instead of queueing."""

    def __init__(self, seconds: float = PROBE_SECONDS) -> None:
        self.seconds = seconds
        self._open_until = 0.0

    def check(self) -> None:
        if time.monotonic() < self._open_until:
            raise Unavailable("database")

    def trip(self, exc: BaseException) -> None:
        if outage(exc) is not None:
            self._open_until = time.monotonic() + self.seconds


class BoundedPool:
    """asyncpg's pool, whose `acquire()` gives up after `timeout` seconds (or at once while
    the breaker is open). tortoise only ever awaits `acquire()`."""

    def __init__(self, pool: asyncpg.Pool, timeout: float, breaker: Breaker) -> None:
        self._pool = pool
        self._timeout = timeout
        self._breaker = breaker

    async def acquire(self, *, timeout: float | None = None) -> Any:
        self._breaker.check()
        if timeout is None and self._pool.get_idle_size():
            # A connection is free: it is handed over at once, without the task and timer
            # that a timeout costs (a tenth of a postback's CPU time, measured).
            return await self._pool.acquire()
        try:
            return await self._pool.acquire(timeout=self._timeout if timeout is None else timeout)
        except Exception as exc:
            self._breaker.trip(exc)
            raise

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        # Always bounded: after a statement timed out on a frozen server, the release waits
        # for the cancellation, which that server never confirms.
        await self._pool.release(connection, timeout=self._timeout if timeout is None else timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class BoundedAsyncpgClient(AsyncpgDBClient):
    def __init__(self, *, acquire_timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.acquire_timeout = float(acquire_timeout)
        self.breaker = Breaker()

    async def create_pool(self, **kwargs: Any) -> Any:
        self.breaker.check()
        try:
            pool = await super().create_pool(**kwargs)
        except Exception as exc:
            self.breaker.trip(exc)
            raise
        return BoundedPool(pool, self.acquire_timeout, self.breaker)

    async def _translate_exceptions(
        self, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        self.breaker.check()
        try:
            return await super()._translate_exceptions(func, *args, **kwargs)
        except Exception as exc:
            self.breaker.trip(exc)
            raise

    def _in_transaction(self) -> TransactionContext:
        return TransactionContextPooled(BoundedTransaction(self), self._pool_init_lock)


class BoundedTransaction(TransactionWrapper):
    """A transaction whose outage errors open its client's breaker too."""

    def __init__(self, connection: BoundedAsyncpgClient) -> None:
        super().__init__(connection)
        self.breaker = connection.breaker

    async def _translate_exceptions(
        self, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return await super()._translate_exceptions(func, *args, **kwargs)
        except Exception as exc:
            self.breaker.trip(exc)
            raise


client_class = BoundedAsyncpgClient
