"""One scheduler at a time: a renewed Redis lease decides which process runs the jobs."""

from __future__ import annotations

import uuid

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


# Of the lease's time, the share its key lives after a renewal; the rest is the most a
# candidate waits between two attempts. So a holder that dies (kill -9) is succeeded within
# the lease's time: its key expires within 80 % of it, and a candidate tries every 20 %.
KEY_SHARE = 0.8


class Lease:
    def __init__(self, redis: Redis, name: str = "scheduler", ttl: float = 30.0) -> None:
        self.redis = redis
        self.key = f"lease:{name}"
        self.ttl_ms = int(ttl * KEY_SHARE * 1000)
        # Renewed four times per key life: three missed renewals in a row still keep it.
        self.try_every = ttl * (1 - KEY_SHARE)
        self.token = uuid.uuid4().hex
        self.held = False  # as last seen by hold() (metrics: which process holds it)

    async def hold(self) -> bool:
        """Take the lease if it is free, or renew it if it is ours; True while we hold it."""
        self.held = False
        renewed = await self.redis.eval(RENEW, 1, self.key, self.token, self.ttl_ms)  # type: ignore[misc]
        if renewed:
            self.held = True
            return True
        taken = await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms)
        self.held = bool(taken)
        return self.held

    async def release(self) -> None:
        """Hand it back at a stop; with Redis away it simply runs out."""
        self.held = False
        try:
            await self.redis.eval(RELEASE, 1, self.key, self.token)  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            logger.warning("the {} lease was not released ({!r}); it runs out", self.key, exc)
