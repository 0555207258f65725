"""GET /metrics in Prometheus's format: what happened in this process, counted; behind a
bearer token when METRICS_TOKEN is set."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot.factory import create_app
from scheduler import jobs
from tests.factories import Factory
from tests.stack import Stack, build_stack

Client = TestClient[Any, Any]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_updates_clicks_postbacks_sends_ticks_and_the_lease(
    stack: Stack, factory: Factory, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    http = await aiohttp_client(
        create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    )
    offer = await factory.offer()
    link = await factory.link(await factory.affiliate(tg_id=5), offer)
    await stack.tg.user(7).send("/start")
    await stack.tg.user(7).send_sticker()
    for _ in range(3):
        await http.get(f"/r/{link.code}", allow_redirects=False)
    await http.get("/postback/999?token=x")
    await stack.deliver()
    await jobs.tick_races(
        stack.services.races,
        stack.services.race_news,
        stack.services.lease,
        stack.services.feed,
        stack.services.metrics,
    )

    resp = await http.get("/metrics")
    got = samples(await resp.text())

    assert resp.status == 200 and resp.content_type == "text/plain"
    assert got[("affrace_updates_total", (("outcome", "handled"), ("type", "message")))] == 2
    assert got[("affrace_update_seconds_count", (("type", "message"),))] == 2
    assert got[("affrace_clicks_tracked_total", ())] == 3
    assert got[("affrace_clicks_lost_total", ())] == 0
    assert got[("affrace_postbacks_total", (("result", "rejected"),))] == 1
    assert got[("affrace_race_tick_seconds_count", ())] == 1
    assert got[("affrace_scheduler_leader", ())] == 1  # the tick took the lease
    assert got[("affrace_outbox_pending", ())] == 0
    assert ("affrace_websocket_clients", ()) in got


async def test_metrics_want_the_token_when_one_is_set(
    database: str, redis: Any, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    stack = await build_stack(database, redis, METRICS_TOKEN="s3cret-metrics")
    http = await aiohttp_client(
        create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    )

    bare = await http.get("/metrics")
    wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
    right = await http.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})

    assert bare.status == 401 and (await bare.json())["code"] == "unauthenticated"
    assert wrong.status == 401
    assert right.status == 200 and "affrace_updates" in await right.text()
    await stack.services.notifier.close()
