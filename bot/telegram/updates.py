"""Which webhook updates were handled, by update_id, in Redis: Telegram sends an update again
after a non-2xx answer or 60 s without one, possibly to another instance, and a second
handling would send a second reply (or count a second referral attempt).

An update is claimed while it is handled (a claim that outlives a crashed instance expires),
marked done once it was, and released when it failed so that Telegram's retry handles it.
Redis down: the update is handled anyway (duplicates are then possible, losses are not).
"""

from __future__ import annotations

from enum import StrEnum

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

CLAIM_SECONDS = 120  # longer than Telegram waits (60 s) for an answer
DONE_SECONDS = 24 * 3600  # Telegram gives up re-sending long before


class Seen(StrEnum):
    NEW = "new"  # ours to handle now
    DONE = "done"  # handled already: answer 200, do nothing
    BUSY = "busy"  # being handled elsewhere right now: ask Telegram to come back


class SeenUpdates:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, update_id: int) -> str:
        return f"{self.prefix}:update:{update_id}"

    async def claim(self, update_id: int) -> Seen:
        key = self._key(update_id)
        try:
            if await self.redis.set(key, Seen.BUSY.value, nx=True, ex=CLAIM_SECONDS):
                return Seen.NEW
            value = await self.redis.get(key)
        except (RedisError, OSError) as exc:
            logger.warning("update {}: not de-duplicated, Redis is away ({!r})", update_id, exc)
            return Seen.NEW
        if value is None:  # expired between the two calls
            return await self.claim(update_id)
        text = value.decode() if isinstance(value, bytes) else str(value)
        return Seen.DONE if text == Seen.DONE.value else Seen.BUSY

    async def done(self, update_id: int) -> None:
        try:
            await self.redis.set(self._key(update_id), Seen.DONE.value, ex=DONE_SECONDS)
        except (RedisError, OSError) as exc:
            logger.warning("update {}: not marked handled ({!r})", update_id, exc)

    async def release(self, update_id: int) -> None:
        try:
            await self.redis.delete(self._key(update_id))
        except (RedisError, OSError) as exc:  # the claim expires by itself
            logger.warning("update {}: claim not released ({!r})", update_id, exc)
