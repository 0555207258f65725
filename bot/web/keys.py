"""Typed keys for what the aiohttp app carries."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiohttp import web
from redis.asyncio import Redis

from bot.config import Settings
from bot.services.click_loader import ClickLoader
from bot.services.clicks import ClickService
from bot.services.postbacks import PostbackService
from bot.telegram.notifier import Notifier

SETTINGS = web.AppKey("settings", Settings)
CLICKS = web.AppKey("clicks", ClickService)
CLICK_LOADER = web.AppKey("click_loader", ClickLoader)
REDIS = web.AppKey("redis", Redis)
POSTBACKS = web.AppKey("postbacks", PostbackService)
NOTIFIER = web.AppKey("notifier", Notifier)
BOT = web.AppKey("bot", Bot)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
