"""Stopping a live board's pub/sub listener: a stop never hangs on a listener that ignores a
cancellation (redis-py's pub/sub read sometimes swallows one and reads on)."""

from __future__ import annotations

import asyncio

import fakeredis

from bot.live import STOP_TRIES, STOP_WAIT, RaceFeed


async def test_race_feed_close_ends_a_listener_that_swallows_a_cancellation() -> None:
    feed = RaceFeed(fakeredis.FakeAsyncRedis(), "test")
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            swallowed += 1  # as redis-py's read does: on to the next read
        await asyncio.sleep(60)

    feed._task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)

    async with asyncio.timeout(STOP_TRIES * STOP_WAIT):
        await feed.close()

    assert swallowed == 1 and feed._task is None


async def test_race_feed_close_gives_up_on_a_listener_that_will_not_end() -> None:
    feed = RaceFeed(fakeredis.FakeAsyncRedis(), "test")
    deaf = True

    async def listener() -> None:
        while deaf:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(listener())
    feed._task = task
    await asyncio.sleep(0)

    async with asyncio.timeout(STOP_TRIES * STOP_WAIT + 1):
        await feed.close()
    still_running = not task.done()
    deaf = False  # the test's own clean-up
    task.cancel()
    await asyncio.wait({task})

    assert still_running and feed._task is None
