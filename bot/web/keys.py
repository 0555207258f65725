"""Typed keys for what the aiohttp app carries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from redis.asyncio import Redis

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from bot.config import Settings
    from bot.services.clicks import ClickService

SETTINGS = web.AppKey["Settings"]("settings")
CLICKS = web.AppKey["ClickService"]("clicks")
REDIS = web.AppKey[Redis]("redis")
BOT = web.AppKey["Bot"]("bot")
DISPATCHER = web.AppKey["Dispatcher"]("dispatcher")
