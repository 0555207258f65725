"""GET /health (the process answers) and GET /ready (whether its database and Redis answer, and
how far the click spool is behind)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import asdict
from typing import cast

from aiohttp import web
from tortoise import Tortoise

from bot.web.keys import CLICK_LOADER, REDIS


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """200 "ready", or 200 "degraded" with the problems while the database or Redis cannot
    answer: the instance still serves every redirect (through the spool), so a load balancer
    must keep sending it traffic; postbacks and updates get their own 503s meanwhile. `clicks`
    says how many clicks wait for the database and for how long, how many redirects could not
    be spooled (`lost`) and why (`error`)."""
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
    clicks = asdict(request.app[CLICK_LOADER].backlog())
    if problems:
        return web.json_response({"status": "degraded", "problems": problems, "clicks": clicks})
    return web.json_response(
        {"status": "ready", "database": "ok", "redis": "ok", "clicks": clicks}
    )
