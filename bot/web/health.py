"""GET /health (the process answers) and GET /ready (its database and Redis answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import cast

from aiohttp import web
from tortoise import Tortoise

from bot.web.keys import CLICKS, REDIS


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    problems: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await Tortoise.get_connection("default").execute_query("SELECT 1")
    except Exception as exc:  # any failure means not ready; say which
        problems["database"] = f"{type(exc).__name__}: {exc}"[:200] or "timeout"
    try:
        async with asyncio.timeout(2):
            await cast(Awaitable[bool], request.app[REDIS].ping())
    except Exception as exc:
        problems["redis"] = f"{type(exc).__name__}: {exc}"[:200]
    # Redirects answered while the database could not store their click (since the start).
    lost = request.app[CLICKS].lost
    if problems:
        return web.json_response(
            {"status": "unavailable", "problems": problems, "clicks_lost": lost}, status=503
        )
    return web.json_response(
        {"status": "ready", "database": "ok", "redis": "ok", "clicks_lost": lost}
    )
