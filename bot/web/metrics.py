"""GET /metrics: this process's metrics in Prometheus's text format, behind a bearer token
when METRICS_TOKEN is set."""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.web.api.deps import API, ApiDeps
from bot.web.keys import SETTINGS


async def metrics(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].METRICS_TOKEN
    if token is not None:
        given = request.headers.get("Authorization", "")
        wanted = "Bearer " + token.get_secret_value()
        if not hmac.compare_digest(given.encode(), wanted.encode()):
            return web.json_response(
                {"ok": False, "code": "unauthenticated", "error": "a bearer token is required"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    deps = request.app[API]
    await refresh(deps)
    body = generate_latest(deps.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def refresh(deps: ApiDeps) -> None:
    """What lives in the database is read at scrape time."""
    deps.metrics.outbox_depth.set(await deps.outbox.waiting())


def setup(app: web.Application, deps: ApiDeps) -> None:
    m = deps.metrics
    m.counter("affrace_clicks_tracked", "Clicks written to the spool", lambda: deps.clicks.tracked)
    m.counter(
        "affrace_clicks_lost",
        "Redirects answered whose click could not be written (disk full, unwritable)",
        lambda: deps.clicks.lost,
    )
    m.gauge(
        "affrace_scheduler_leader",
        "1 while this process holds the scheduler lease",
        lambda: 1.0 if deps.lease.held else 0.0,
    )
    m.gauge(
        "affrace_poller_leader",
        "1 while this process holds the poller lease (polling mode)",
        lambda: 1.0 if deps.poller.held else 0.0,
    )
    app.router.add_get("/metrics", metrics, allow_head=False)
