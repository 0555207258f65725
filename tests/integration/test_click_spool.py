"""Clicks through the spool with the loader running as in the process: how soon they are
stored, what a database outage does to the redirects (nothing) and to the clicks (they wait
and land), what /ready says meanwhile, and what start-up and shutdown do with the spool."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from loguru import logger
from redis.asyncio import Redis

from bot import db
from bot.factory import create_app
from models import Click, RaceEntry, RaceMetric
from tests.factories import Factory, race_draft
from tests.stack import Stack, build_stack

Client = TestClient[Any, Any]
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
REFUSED = "postgres://postgres@127.0.0.1:1/affrace"  # nothing listens on port 1
FAST = db.Timeouts(connect=0.5, statement=0.5, acquire=0.5)


@pytest.fixture
async def running(database: str, redis: Redis) -> AsyncIterator[Stack]:
    """A stack whose loader runs in the background, as `python -m bot run` starts it."""
    stack = await build_stack(database, redis, CLICK_LOADER_INTERVAL_MS=50)
    await stack.services.click_loader.start()
    try:
        yield stack
    finally:
        await stack.services.click_loader.close(drain_seconds=2)
        await stack.services.notifier.close()
        await stack.services.conversions.close()


@pytest.fixture
async def http(running: Stack, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    app = create_app(running.settings, running.bot, running.dp, running.redis, running.services)
    return await aiohttp_client(app)


async def until(check: Callable[[], Awaitable[bool]], seconds: float) -> float:
    """Wait for `check` to hold; how long it took (fails after `seconds`)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def clicks_are(link_id: int, expected: int) -> bool:
    return await Click.filter(link_id=link_id).count() == expected


@pytest.mark.usefixtures("steady_collector")  # it times redirects
async def test_a_click_is_stored_within_a_second_without_anyone_asking(
    http: Client, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())

    resp = await http.get(f"/r/{link.code}", headers=BROWSER, allow_redirects=False)

    assert resp.status == 302
    took = await until(lambda: Click.filter(link_id=link.id).exists(), seconds=1.0)
    assert took < 1.0


@pytest.mark.usefixtures("steady_collector")  # it times redirects
async def test_redirects_keep_their_pace_while_the_database_refuses_and_every_click_lands(
    http: Client, running: Stack, factory: Factory, database: str
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())

    async def timed_clicks(count: int) -> list[float]:
        waits = []
        for _ in range(count):
            started = time.monotonic()
            resp = await http.get(f"/r/{link.code}", headers=BROWSER, allow_redirects=False)
            assert resp.status == 302
            waits.append(time.monotonic() - started)
        return waits

    before = await timed_clicks(50)
    await until(lambda: clicks_are(link.id, 50), seconds=5)
    await db.close()
    await db.init(REFUSED, timeouts=FAST)
    try:
        during = await timed_clicks(150)
        await asyncio.sleep(0.5)  # the loader has tried and failed meanwhile
        ready = await (await http.get("/ready")).json()
    finally:
        await db.close()
        await db.init(database)

    assert statistics.median(during) < 2 * statistics.median(before) + 0.005
    assert max(during) < 0.25
    assert ready["status"] == "degraded" and "database" in ready["problems"]
    assert ready["clicks"]["clicks"] == 150 and ready["clicks"]["seconds"] > 0.3
    # Back: the loader catches up by itself, without a restart.
    await until(lambda: clicks_are(link.id, 200), seconds=10)
    backlog = (await (await http.get("/ready")).json())["clicks"]
    assert (backlog["clicks"], backlog["lost"]) == (0, 0)


async def test_start_stores_what_an_earlier_run_left_before_it_returns(
    database: str, redis: Redis, factory: Factory, tmp_path: Any
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())
    earlier = await build_stack(database, redis, CLICK_SPOOL_DIR=str(tmp_path))
    for n in range(30):
        await earlier.services.clicks.track(link.code, None, f"10.0.0.{n}", "Firefox")
    spool = earlier.services.clicks.spool
    assert spool._fd is not None and spool._lock_fd is not None
    os.close(spool._fd)  # the process dies: the kernel closes its files, the lock goes
    os.close(spool._lock_fd)

    later = await build_stack(database, redis, CLICK_SPOOL_DIR=str(tmp_path))
    await later.services.click_loader.start()
    stored = await Click.filter(link_id=link.id).count()
    await later.services.click_loader.close()

    assert stored == 30  # before start() returned: nothing reads clicks earlier
    assert later.services.click_loader.backlog().clicks == 0


async def test_a_graceful_shutdown_drains_the_spool(
    database: str, redis: Redis, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())
    stack = await build_stack(database, redis, CLICK_LOADER_INTERVAL_MS=60_000)
    await stack.services.click_loader.start()
    for n in range(25):
        await stack.services.clicks.track(link.code, None, f"10.0.1.{n}", "Firefox")

    await stack.services.click_loader.close()

    assert await Click.filter(link_id=link.id).count() == 25
    assert not list(stack.settings.spool_dir.glob("*.spool")) or all(
        p.stat().st_size == 0 for p in stack.settings.spool_dir.glob("*.spool")
    )


async def test_a_shutdown_while_the_database_is_away_keeps_the_clicks_for_the_next_start(
    database: str, redis: Redis, factory: Factory, tmp_path: Any
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())
    stack = await build_stack(database, redis, CLICK_SPOOL_DIR=str(tmp_path))
    await stack.services.clicks.resolve(link.code)
    await stack.services.click_loader.start()
    await db.close()
    await db.init(REFUSED, timeouts=FAST)
    for n in range(10):  # a known link: resolved from the cache
        await stack.services.clicks.track(link.code, None, f"10.0.2.{n}", "Firefox")
    started = time.monotonic()
    await stack.services.click_loader.close(drain_seconds=1)
    waited = time.monotonic() - started
    await db.close()
    await db.init(database)

    later = await build_stack(database, redis, CLICK_SPOOL_DIR=str(tmp_path))
    await later.services.click_loader.start()
    await later.services.click_loader.close()

    assert waited < 3  # bounded by the drain time
    assert await Click.filter(link_id=link.id).count() == 10


async def test_click_race_scores_move_once_per_click_through_the_loader(
    running: Stack, factory: Factory
) -> None:
    race = await running.services.races.create(
        race_draft(metric=RaceMetric.CLICKS, title="Clicks", prizes=[(1, "", 100)])
    )
    await running.services.races.start_due()
    owner = await factory.affiliate()
    link = await factory.link(owner, await factory.offer())
    for ip in ("1.1.1.1", "1.1.1.1", "2.2.2.2", "3.3.3.3"):
        await running.services.clicks.track(link.code, None, ip, "Firefox")

    await until(lambda: clicks_are(link.id, 4), seconds=2)
    await running.load_clicks()  # a second pass over the same spool moves nothing

    entry = await RaceEntry.get(race_id=race.id, affiliate_id=owner.id)
    assert entry.score == 3


async def test_a_backlog_over_the_limit_is_logged_as_a_warning(
    database: str, redis: Redis, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    stack = await build_stack(database, redis, CLICK_SPOOL_BACKLOG_WARN=5)
    await stack.services.clicks.resolve(link.code)
    await stack.services.click_loader.start()
    await db.close()
    await db.init(REFUSED, timeouts=FAST)
    try:
        for n in range(8):
            await stack.services.clicks.track(link.code, None, f"10.0.3.{n}", "Firefox")
        await asyncio.sleep(1.5)
    finally:
        await db.close()
        await db.init(database)
        logger.remove(sink)
    await stack.services.click_loader.close()

    assert any("8 clicks wait in the spool" in line for line in lines), lines


def test_the_spool_directory_defaults_to_one_under_the_data_directory(tmp_path: Any) -> None:
    from tests.stack import make_settings

    assert make_settings("sqlite://:memory:", DATA_DIR=str(tmp_path)).spool_dir == (
        tmp_path / "spool"
    )
    chosen = make_settings("sqlite://:memory:", CLICK_SPOOL_DIR=str(tmp_path / "own"))
    assert chosen.spool_dir == tmp_path / "own"


async def test_a_postback_for_a_click_made_a_moment_ago_is_attributed(
    database: str, redis: Redis, factory: Factory, aiohttp_client: Any
) -> None:
    """The advertiser can be faster than the loader: the postback has the spool loaded."""
    from urllib.parse import parse_qs, urlsplit

    from bot.services.postbacks import sign
    from models import Conversion

    stack = await build_stack(database, redis, CLICK_LOADER_INTERVAL_MS=60_000)
    http = await aiohttp_client(
        create_app(stack.settings, stack.bot, stack.dp, redis, stack.services)
    )
    offer = await factory.offer()
    link = await factory.link(await factory.affiliate(), offer)
    await stack.services.click_loader.start()  # its next batch is a minute away
    resp = await http.get(f"/r/{link.code}", headers=BROWSER, allow_redirects=False)
    cid = parse_qs(urlsplit(resp.headers["Location"]).query)["cid"][0]
    params = {
        "click_id": cid,
        "event": "deposit",
        "amount": "10.00",
        "currency": "USD",
        "status": "approved",
        "txid": "fast-1",
        "ts": str(int(time.time())),
    }
    params["sig"] = sign(params, "s3cret")

    answer = await http.get(f"/postback/{offer.id}", params=params)

    body = await answer.json()
    await stack.services.click_loader.close()
    assert answer.status == 200, body
    conversion = await Conversion.get(txid="fast-1")
    assert conversion.link_id == link.id and conversion.click_id is not None
