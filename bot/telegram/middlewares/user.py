"""Loads (or creates) the affiliate once per update and hands it to handlers as `user`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User
from loguru import logger

from bot.services.admin_desk import AdminDesk
from bot.services.affiliates import AffiliateService, Profile


class UserMiddleware(BaseMiddleware):
    def __init__(self, affiliates: AffiliateService, desk: AdminDesk) -> None:
        self.affiliates = affiliates
        self.desk = desk

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        tg_user: User | None = data.get("event_from_user")
        # Someone joining a channel has not met the bot: no affiliate is made for them.
        membership = isinstance(event, Update) and (event.chat_member or event.my_chat_member)
        if membership:
            return await handler(event, data)
        if tg_user is None or tg_user.is_bot:
            # Another bot, an anonymous group admin, a channel post: nobody to serve.
            update_id = event.update_id if isinstance(event, Update) else None
            logger.debug("update {} ignored: not sent by a person", update_id)
            return None
        user, created = await self.affiliates.load_or_create(
            Profile(
                tg_id=tg_user.id,
                first_name=tg_user.first_name,
                last_name=tg_user.last_name,
                username=tg_user.username,
                language_code=tg_user.language_code,
            )
        )
        data["user"] = user
        data["user_created"] = created
        data["is_admin"] = self.desk.is_admin(user)  # ADMIN_IDS, or promoted by an admin
        return await handler(event, data)
