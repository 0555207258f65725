"""create_web_app(): the aiohttp application and its routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

from aiohttp import web
from loguru import logger
from redis.asyncio import Redis

from bot.errors import outage
from bot.telegram.updates import SeenUpdates
from bot.web import health, metrics, postback, redirect, webhook
from bot.web.api import live, static, views
from bot.web.api.auth import api_guard
from bot.web.api.deps import API, ApiDeps
from bot.web.keys import (
    BOT,
    CLICK_LOADER,
    CLICKS,
    DISPATCHER,
    NOTIFIER,
    POSTBACKS,
    REDIS,
    SETTINGS,
)
from bot.web.refusals import CODE_OF_STATUS

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from bot.config import Settings
    from bot.services.click_loader import ClickLoader
    from bot.services.postbacks import PostbackService

MAX_BODY = 1024 * 1024


RETRY_AFTER = "5"  # seconds an advertiser (or Telegram) should wait while a dependency is down


def error_response(
    request: web.Request, status: int, reason: str, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    if request.path.startswith("/r/"):
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            return redirect.unavailable()
        return redirect.page(status, "Something went wrong", "Please try again in a minute.")
    if request.path.startswith("/postback/"):
        body: dict[str, object] = {
            "result": "rejected",
            "conversion_id": None,
            "status": None,
            "reason": reason,
        }
    else:
        body = {"ok": False, "code": CODE_OF_STATUS.get(status, "internal"), "error": reason}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error answers in the endpoint's own shape (JSON for the API) and says what was
    wrong: a dependency that is down is a 503 with Retry-After, never a bare 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < HTTPStatus.BAD_REQUEST or request.path.startswith("/r/"):
            raise
        return error_response(request, exc.status, exc.reason)
    except Exception as exc:
        down = outage(exc)
        if down is not None:
            logger.warning(
                "{} {}: the {} is unavailable ({!r})", request.method, request.path, down, exc
            )
            reason = f"the {down} is unavailable, please retry later"
            return error_response(request, 503, reason, {"Retry-After": RETRY_AFTER})
        logger.opt(exception=exc).error("{} {} failed", request.method, request.path)
        return error_response(request, 500, "internal error, please retry later")


def setup_routes(app: web.Application, *, public: bool, with_webhook: bool) -> None:
    """`public`: what visitors, advertisers and the Mini App reach (the web role); the
    webhook is the bot role's. /health, /ready and /metrics are every process's."""
    app.router.add_get("/health", health.health)
    app.router.add_get("/ready", health.ready)
    if public:
        for path in ("/r/{code}", "/r/{code}/{sub}"):
            # add_get would route HEAD to the counting view too: link checkers would count.
            app.router.add_get(path, redirect.redirect, allow_head=False)
            app.router.add_route("HEAD", path, redirect.redirect_head)
        app.router.add_get("/postback/{offer_id}", postback.postback)
        app.router.add_post("/postback/{offer_id}", postback.postback)
    if with_webhook:
        app[webhook.SEEN_UPDATES] = SeenUpdates(app[REDIS], app[SETTINGS].CHANNEL_PREFIX)
        app.router.add_post("/webhook", webhook.webhook)


def create_web_app(
    settings: Settings,
    click_loader: ClickLoader,
    postbacks: PostbackService,
    redis: Redis,
    bot: Bot,
    dispatcher: Dispatcher,
    api: ApiDeps,
) -> web.Application:
    public = settings.runs("web")
    guards = [json_errors, api_guard] if public else [json_errors]
    app = web.Application(client_max_size=MAX_BODY, middlewares=guards)
    app[SETTINGS] = settings
    app[CLICKS] = api.clicks
    app[CLICK_LOADER] = click_loader
    app[POSTBACKS] = postbacks
    app[NOTIFIER] = api.notifier
    app[REDIS] = redis
    app[BOT] = bot
    app[DISPATCHER] = dispatcher
    app[API] = api
    setup_routes(app, public=public, with_webhook=settings.use_webhook and settings.runs("bot"))
    if public:
        views.setup(app)
        live.setup(app, api)
        static.setup(app)
    metrics.setup(app, api)
    return app
