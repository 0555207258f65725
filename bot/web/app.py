"""create_web_app(): the aiohttp application and its routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from redis.asyncio import Redis

from bot.web import health, postback, redirect, webhook
from bot.web.keys import BOT, CLICKS, CONVERSIONS, DISPATCHER, NOTIFIER, REDIS, SETTINGS

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from bot.config import Settings
    from bot.notifier import Notifier
    from bot.services.clicks import ClickService
    from bot.services.conversions import ConversionService

MAX_BODY = 1024 * 1024


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every HTTP error in the API answers JSON that says what was wrong."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or request.path.startswith("/r/"):
            raise
        if request.path.startswith("/postback/"):
            body = {"result": "rejected", "conversion_id": None, "reason": exc.reason}
            return web.json_response(body, status=exc.status)
        return web.json_response({"ok": False, "error": exc.reason}, status=exc.status)


def setup_routes(app: web.Application, with_webhook: bool) -> None:
    app.router.add_get("/r/{code}", redirect.redirect)
    app.router.add_get("/r/{code}/{sub}", redirect.redirect)
    app.router.add_get("/postback/{offer_id}", postback.postback)
    app.router.add_post("/postback/{offer_id}", postback.postback)
    app.router.add_get("/health", health.health)
    app.router.add_get("/ready", health.ready)
    if with_webhook:
        app.router.add_post("/webhook", webhook.webhook)


def create_web_app(
    settings: Settings,
    clicks: ClickService,
    conversions: ConversionService,
    notifier: Notifier,
    redis: Redis,
    bot: Bot,
    dispatcher: Dispatcher,
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[json_errors])
    app[SETTINGS] = settings
    app[CLICKS] = clicks
    app[CONVERSIONS] = conversions
    app[NOTIFIER] = notifier
    app[REDIS] = redis
    app[BOT] = bot
    app[DISPATCHER] = dispatcher
    setup_routes(app, with_webhook=settings.use_webhook)
    return app
