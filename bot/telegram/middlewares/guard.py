"""Throttling of floods from one user, and the polite stop for banned users."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from redis.asyncio import Redis

from models import Affiliate


async def _tell(event: TelegramObject, text: str) -> None:
    if isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=False)
    elif isinstance(event, Message):
        await event.answer(text)


# The count of this second and its expiry in one round trip, and atomically: INCR and EXPIRE
# sent apart cost two, and a key whose EXPIRE never came (the process killed between them,
# Redis lost the connection) would have stayed for good.
COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""
KEY_SECONDS = 2  # a second's count outlives its second a little


class ThrottlingMiddleware(BaseMiddleware):
    """Drops a user's updates past `rate` a second; the first dropped one gets a polite word."""

    def __init__(self, redis: Redis, rate: int) -> None:
        self.rate = rate
        self._count = redis.register_script(COUNT)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: Affiliate | None = data.get("user")
        if user is None:
            return await handler(event, data)
        key = f"throttle:{user.tg_id}:{int(time.time())}"
        count = int(await self._count(keys=[key], args=[KEY_SECONDS]))
        if count <= self.rate:
            return await handler(event, data)
        if count == self.rate + 1:
            await _tell(event, _("Whoa, that's fast! Please wait a second and try again."))
        return None


class BanMiddleware(BaseMiddleware):
    """A banned affiliate is told once per action that access is suspended; nothing runs."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: Affiliate | None = data.get("user")
        if user is not None and user.is_banned and not data.get("is_admin"):
            text = _("Your access to the programme is suspended.")
            if user.ban_reason:
                text += "\n" + _("Reason: {reason}").format(reason=escape(user.ban_reason))
            await _tell(event, text)
            return None
        return await handler(event, data)
