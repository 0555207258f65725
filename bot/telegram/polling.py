"""Polling Telegram, by one process at a time.

Telegram gives a bot's updates to one getUpdates caller: two pollers take turns being refused
(409 Conflict) and each sees only some of the updates. Processes that poll the same bot hold a
lease in Redis first: one polls, any other stands by and takes over within LEASE_SECONDS of the
poller's stop or death. Without REDIS_URL (one process, the in-process stand-in) the lease is
always free.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiogram import Bot, Dispatcher
from loguru import logger
from redis.exceptions import RedisError

from bot.lease import Lease

STOP_POLL_STEP = 0.05


async def poll_until(stop: asyncio.Event, dp: Dispatcher, bot: Bot, allowed: list[str]) -> None:
    """Poll Telegram until `stop` is set (a signal), then let aiogram finish its round; a stop
    that came before polling had begun ends it as soon as it has."""
    polling = asyncio.create_task(
        # The bot's session stays open: the sender and the replies share it, and polling may
        # stop to stand by and start again; the process closes it when it stops.
        dp.start_polling(
            bot, allowed_updates=allowed, handle_signals=False, close_bot_session=False
        )
    )
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    while not polling.done():
        try:
            await dp.stop_polling()
        except RuntimeError:  # "Polling is not started" yet
            await asyncio.sleep(STOP_POLL_STEP)
    stopping.cancel()
    await polling  # what polling raised, if it failed by itself


async def poll_while_leading(
    stop: asyncio.Event, dp: Dispatcher, bot: Bot, allowed: list[str], lease: Lease
) -> None:
    """Until `stop`: poll while this process holds the poller lease, stand by while another
    process does. The lease is released at the end, so a standby takes over at once."""
    standing_by = False
    try:
        while not stop.is_set():
            if await _take(lease):
                standing_by = False
                logger.info("polling Telegram for updates")
                await _poll_holding(stop, dp, bot, allowed, lease)
                continue
            if not standing_by:
                logger.info(
                    "another process polls Telegram for this bot: this one stands by and "
                    "takes over if it stops"
                )
                standing_by = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(lease.try_every):
                    await stop.wait()
    finally:
        if lease.held:
            await lease.release()


async def _take(lease: Lease) -> bool:
    """Whether this process may poll now. With Redis away nobody can tell: it polls, since a
    bot that answers nobody is worse than a few refused getUpdates until Redis is back."""
    try:
        return await lease.hold()
    except (RedisError, OSError) as exc:
        logger.warning("Redis did not answer ({!r}): polling without the poller lease", exc)
        return True


async def _poll_holding(
    stop: asyncio.Event, dp: Dispatcher, bot: Bot, allowed: list[str], lease: Lease
) -> None:
    """Poll until `stop`, or until the lease turns out to be another process's (this one was
    cut off from Redis long enough for a standby to take over)."""
    until = asyncio.Event()

    async def keep() -> None:
        while True:
            await asyncio.sleep(lease.try_every)
            try:
                held = await lease.hold()
            except (RedisError, OSError):
                continue  # Redis away: go on polling, renew when it is back
            if not held:
                logger.warning("another process took over polling: this one stands by")
                until.set()
                return

    async def relay() -> None:
        await stop.wait()
        until.set()

    helpers = [asyncio.create_task(keep()), asyncio.create_task(relay())]
    try:
        await poll_until(until, dp, bot, allowed)
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
