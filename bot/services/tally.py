"""Today's postbacks by outcome (stored, duplicate, rejected), counted in Redis per UTC day.

A count is derived state: a Redis that is down loses a few counts and never a postback.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.services.conversions import Verdict

KEEP_SECONDS = 3 * 86_400


class PostbackTally:
    def __init__(
        self, redis: Redis, prefix: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.clock = clock

    def _key(self) -> str:
        return f"{self.prefix}:postbacks:{self.clock():%Y-%m-%d}"

    async def count(self, verdict: Verdict) -> None:
        if verdict is Verdict.TEST:  # an admin's or advertiser's check, not traffic
            return
        key = self._key()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(key, verdict.value, 1)
                pipe.expire(key, KEEP_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            logger.debug("postback tally not counted: {!r}", exc)

    async def today(self) -> dict[str, int]:
        raw: dict[bytes | str, bytes | str] = await self.redis.hgetall(self._key())  # type: ignore[misc]
        counts = {v.value: 0 for v in Verdict if v is not Verdict.TEST}
        for name, n in raw.items():
            label = name.decode() if isinstance(name, bytes) else str(name)
            if label in counts:
                counts[label] = int(n)
        return counts
