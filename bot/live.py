"""Live race boards across instances: a tick publishes "race N changed" on Redis pub/sub
(the in-process stand-in without Redis), and every instance forwards it to its own
WebSocket clients of that race.

Pub/sub ignores Redis's database number, so channels carry CHANNEL_PREFIX: two deployments
or test runs on one Redis never hear each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

Listener = Callable[[int], Awaitable[None]]
RETRY_SECONDS = 1.0
STOP_TRIES = 5  # cancellations of a listener before close() gives up on it
STOP_WAIT = 0.2  # seconds for a listener to end after each


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel a listener and wait until it ends. redis-py sometimes swallows the cancellation
    of a pub/sub read and reads on (1 of 60 listeners closed 25-70 s after subscribing never
    ended, around the connection's 30 s health check), so it is cancelled again, STOP_TRIES
    times at most: a stop must not hang on it, nor skip what closes after it."""
    for _ in range(STOP_TRIES):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=STOP_WAIT)
        if done:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return
    logger.warning("{} did not stop when cancelled", task.get_name())


class RaceFeed:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def channel(self, race_id: int) -> str:
        return f"{self.prefix}:race:{race_id}"

    async def publish(self, race_id: int) -> None:
        """Tell every instance that race `race_id`'s standings changed. Best effort: a Redis
        that is down loses the live update, and the next tick or a reconnect catches up."""
        try:
            await self.redis.publish(self.channel(race_id), json.dumps({"race_id": race_id}))
        except (RedisError, OSError) as exc:
            logger.warning("race {} update not published: {!r}", race_id, exc)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="race-feed")

    async def close(self) -> None:
        if self._task is not None:
            await stop(self._task)
            self._task = None

    async def _listen(self) -> None:
        """Subscribe (again after an outage) and hand each message to the listeners."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{self.prefix}:race:*")
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        await self._deliver(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                logger.warning("race feed lost its subscription ({!r}); retrying", exc)
                await asyncio.sleep(RETRY_SECONDS)

    async def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "pmessage":
            return
        try:
            race_id = int(json.loads(message["data"])["race_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("race feed: an unreadable message on {}", message.get("channel"))
            return
        for listener in self.listeners:
            try:
                await listener(race_id)
            except Exception:
                logger.exception("race feed listener failed for race {}", race_id)


class Bell:
    """A wake-up call across instances on Redis pub/sub: `ring()` from any process, and every
    process that listens hears it (the outbox: the scheduler that leads delivers at once what
    another process just queued). Best effort: a lost ring only waits for the next drain."""

    def __init__(self, redis: Redis, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self._ringing: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def ring(self) -> None:
        task = asyncio.create_task(self._publish())
        self._ringing.add(task)
        task.add_done_callback(self._ringing.discard)

    async def _publish(self) -> None:
        try:
            await self.redis.publish(self.channel, "1")
        except (RedisError, OSError) as exc:
            logger.info("{} not rung: {!r}", self.channel, exc)

    def start(self, heard: Callable[[], None]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(heard), name=f"bell:{self.channel}")

    async def close(self) -> None:
        ringing = list(self._ringing)
        for task in ringing:
            task.cancel()
        for task in ringing:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._task is not None:
            await stop(self._task)
        self._task = None

    async def _listen(self, heard: Callable[[], None]) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            heard()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                logger.warning("{} lost its subscription ({!r}); retrying", self.channel, exc)
                await asyncio.sleep(RETRY_SECONDS)
