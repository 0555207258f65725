"""A stop signal is honoured at any moment: one that arrives while the process is still
starting (the HTTP server already answering, polling not yet begun) stops it gracefully
instead of leaving it polling or killing it outright."""

from __future__ import annotations

import asyncio

from bot.__main__ import poll_until
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
