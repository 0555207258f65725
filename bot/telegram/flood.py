"""A short flood wait is waited out where the call was made: a reply to a button or a command
that Telegram answered with 429 "retry after 2" arrives 2 s late instead of never. Longer waits
are left to the caller (a reply is dropped with a warning). Work that paces itself (the outbox
sender, the scheduled jobs) says so with `caller_handles_floods()` and sees every 429."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from loguru import logger

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod
    from aiogram.methods.base import Response, TelegramType

_CALLER_HANDLES = ContextVar("caller_handles_floods", default=False)


@contextmanager
def caller_handles_floods() -> Iterator[None]:
    """Within this block (and the tasks it starts), a 429 reaches the caller at once."""
    token = _CALLER_HANDLES.set(True)
    try:
        yield
    finally:
        _CALLER_HANDLES.reset(token)


LONGEST_WAIT = 5  # seconds: a user still sees the answer as an answer
ATTEMPTS = 3  # the call, and at most two more after a wait each


class WaitOutShortFloods(BaseRequestMiddleware):
    def __init__(
        self,
        longest: float = LONGEST_WAIT,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.longest = longest
        self.attempts = attempts
        self.sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if _CALLER_HANDLES.get():
            return await make_request(bot, method)
        for attempt in range(1, self.attempts):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if exc.retry_after > self.longest:
                    raise
                logger.info(
                    "{}: Telegram asks to wait {} s; waiting (attempt {})",
                    type(method).__name__,
                    exc.retry_after,
                    attempt,
                )
                await self.sleep(exc.retry_after)
        return await make_request(bot, method)
