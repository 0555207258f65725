"""Today's postbacks by outcome (stored, duplicate, rejected), counted in Redis per UTC day.

A count is derived state: a Redis that is down loses a few counts and never a postback. Counts
are added up in the process and written once a FLUSH_SECONDS (one HINCRBY per outcome), not
once a postback: a round trip per postback was a fifth of the postback's own cost. A crash
loses at most that much of the tally; this process's own reads include what it has not
written yet.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.services.conversions import Verdict

KEEP_SECONDS = 3 * 86_400
FLUSH_SECONDS = 1.0


class PostbackTally:
    def __init__(
        self, redis: Redis, prefix: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self._pending: Counter[tuple[str, str]] = Counter()  # (day's key, outcome) -> count
        self._flushing: asyncio.Task[None] | None = None

    def _key(self) -> str:
        return f"{self.prefix}:postbacks:{self.clock():%Y-%m-%d}"

    def count(self, verdict: Verdict) -> None:
        if verdict is Verdict.TEST:  # an admin's or advertiser's check, not traffic
            return
        self._pending[(self._key(), verdict.value)] += 1
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush_soon(), name="postback-tally")

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(FLUSH_SECONDS)
        finally:
            self._flushing = None
        await self.flush()

    async def flush(self) -> None:
        """Write what was counted since the last flush (lost if Redis cannot take it)."""
        pending, self._pending = self._pending, Counter()
        if not pending:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for (key, outcome), n in pending.items():
                    pipe.hincrby(key, outcome, n)
                for key in {key for key, _ in pending}:
                    pipe.expire(key, KEEP_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            logger.debug("postback tally: {} counts not written: {!r}", pending.total(), exc)

    async def close(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        await self.flush()

    async def today(self) -> dict[str, int]:
        key = self._key()
        raw: dict[bytes | str, bytes | str] = await self.redis.hgetall(key)  # type: ignore[misc]
        counts = {v.value: 0 for v in Verdict if v is not Verdict.TEST}
        for name, value in raw.items():
            label = name.decode() if isinstance(name, bytes) else str(name)
            if label in counts:
                counts[label] = int(value)
        for (day, outcome), waiting in self._pending.items():
            if day == key and outcome in counts:
                counts[outcome] += waiting
        return counts
