"""Picks the language: the one the user chose, else their Telegram one, else English."""

from __future__ import annotations

from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18nMiddleware

from bot.i18n import pick_language
from models import Affiliate


class UserI18nMiddleware(I18nMiddleware):
    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: Affiliate | None = data.get("user")
        tg_user: User | None = data.get("event_from_user")
        return pick_language(
            user.language if user else None, tg_user.language_code if tg_user else None
        )
