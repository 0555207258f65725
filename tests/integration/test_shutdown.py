"""A stop signal is honoured at any moment: one that arrives while the process is still
starting (the HTTP server already answering, polling not yet begun) stops it gracefully
instead of leaving it polling or killing it outright."""

from __future__ import annotations

import asyncio

import pytest

from bot.telegram.polling import poll_until
from tests.stack import Stack


async def test_poll_until_a_stop_that_came_before_polling_began_ends_it_at_once(
    stack: Stack,
) -> None:
    stop = asyncio.Event()
    stop.set()

    await asyncio.wait_for(poll_until(stop, stack.dp, stack.bot, []), 5)

    assert stack.session.requests  # polling did begin, and ended by itself


async def test_poll_until_a_stop_while_polling_ends_it_after_the_round(stack: Stack) -> None:
    stop = asyncio.Event()
    polling = asyncio.create_task(poll_until(stop, stack.dp, stack.bot, []))
    await asyncio.sleep(0.3)
    rounds = sum(type(r).__name__ == "GetUpdates" for r in stack.session.requests)

    stop.set()
    await asyncio.wait_for(polling, 5)

    assert rounds >= 2 and not polling.cancelled()


async def test_a_stop_while_starting_cancels_the_rest_of_the_start() -> None:
    from bot.process import unless_stopped

    stop = asyncio.Event()
    reached = []

    async def slow_start() -> None:
        await asyncio.sleep(30)  # Telegram not answering deleteWebhook
        reached.append("served")

    asyncio.get_running_loop().call_later(0.1, stop.set)
    started = await asyncio.wait_for(unless_stopped(stop, slow_start()), 5)

    assert started is False and reached == []


async def test_a_start_that_ends_first_reports_it_and_its_errors() -> None:
    from bot.process import unless_stopped

    async def quick() -> None:
        await asyncio.sleep(0)

    async def broken() -> None:
        raise RuntimeError("no database")

    assert await unless_stopped(asyncio.Event(), quick()) is True
    with pytest.raises(RuntimeError, match="no database"):
        await unless_stopped(asyncio.Event(), broken())
