"""kill -9 of the real `python -m bot run` process during a click storm, then a restart: every
302 the visitors received is a row exactly once, and uniqueness and the click race's scores are
what the stored clicks make them (what a run without the kill gives). On SQLite with the
in-process Redis stand-in, and on a PostgreSQL cluster and a Redis of the test's own.

Run it alone with `python3 dev.py test tests/outage/test_spool_kill.py -s`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import fakeredis
import pytest

from bot import db
from bot.services.affiliates import AffiliateService, Profile, create_link
from bot.services.races import RaceService
from models import Click, Link, Offer, OfferKind, RaceEntry, RaceMetric
from tests.factories import race_draft
from tests.outage.harness import (
    BotProcess,
    FakeBotApi,
    PgCluster,
    RedisServer,
    free_port,
    process_env,
    write_figures,
)

pytestmark = pytest.mark.outage

WORKERS = 24  # visitors' requests in flight at once
STORM_SECONDS = 2.5  # of clicks before the kill
VISITORS = 40  # distinct browsers; some visit many times
BOT_EVERY = 6  # every sixth request is a link-preview bot


@dataclass
class Setup:
    url: str
    env: dict[str, str]
    folder: Path
    codes: list[str]
    race_id: int


@pytest.fixture(params=["sqlite", "postgres"])
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Setup]:
    api = FakeBotApi()
    await api.start()
    pg = redis = None
    port = free_port()
    env = process_env(
        api,
        port,
        tmp_path / "data",
        CLICK_LOADER_INTERVAL_MS="500",  # so that the kill surely leaves clicks unloaded
    )
    if request.param == "postgres":
        pg, redis = PgCluster(), RedisServer()
        await asyncio.to_thread(pg.init)
        redis.start()
        env |= {"DATABASE_URL": pg.url, "REDIS_URL": redis.url}
    else:
        env["DATABASE_URL"] = f"sqlite://{tmp_path}/affrace.sqlite3"
    try:
        await db.migrate(env["DATABASE_URL"])
        codes, race_id = await seed(env["DATABASE_URL"])
        yield Setup(env["DATABASE_URL"], env, tmp_path, codes, race_id)
    finally:
        await api.close()
        if redis is not None:
            redis.stop()
        if pg is not None:
            await asyncio.to_thread(pg.destroy)


async def seed(url: str) -> tuple[list[str], int]:
    """Five affiliates with a link each to a URL offer, and a running click race."""
    await db.init(url)
    try:
        offer = await Offer.create(
            title="Shop",
            kind=OfferKind.URL,
            target_url="https://adv.example/?cid={click_id}",
            payout_minor=100,
            currency="USD",
        )
        codes = []
        for n in range(5):
            affiliate, _ = await AffiliateService().load_or_create(
                Profile(tg_id=800_000 + n, first_name=f"K{n}")
            )
            codes.append((await create_link(affiliate, offer.id)).code)
        races = RaceService(fakeredis.FakeAsyncRedis())
        race = await races.create(
            race_draft(metric=RaceMetric.CLICKS, title="Click storm", prizes=[(1, "", 100)])
        )
        await races.start_due()
        return codes, race.id
    finally:
        await db.close()


async def storm(base: str, codes: list[str], received: list[str], stop: asyncio.Event) -> int:
    """Visitors click until the server goes away; the click id of every 302 received is kept.
    Returns how many requests got no answer (in flight when the process died)."""
    numbers = itertools.count()
    unanswered = 0

    async def visitor(http: aiohttp.ClientSession) -> None:
        nonlocal unanswered
        while not stop.is_set():
            n = next(numbers)
            agent = "curl/8.0" if n % BOT_EVERY == 0 else f"Mozilla/5.0 visitor-{n % VISITORS}"
            code = codes[n % len(codes)]
            try:
                async with http.get(
                    f"{base}/r/{code}", headers={"User-Agent": agent}, allow_redirects=False
                ) as resp:
                    assert resp.status == 302
                    received.append(parse_qs(urlsplit(resp.headers["Location"]).query)["cid"][0])
            except (aiohttp.ClientError, OSError):
                unanswered += 1
                return

    connector = aiohttp.TCPConnector(limit=WORKERS, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(visitor(http) for _ in range(WORKERS)))
    return unanswered


def tally(
    rows: list[tuple[object, ...]], owners: dict[int, int]
) -> tuple[dict[tuple[object, ...], list[bool]], Counter[int]]:
    """The stored clicks by (link, visitor, label, day) with their unique flags, and the
    unique ones per link owner."""
    groups: dict[tuple[object, ...], list[bool]] = {}
    for _cid, link, visitor, sub, unique, is_bot, at in rows:
        if is_bot:
            assert not unique, "a bot's click was counted unique"
            continue
        day = at.astimezone(UTC).date() if isinstance(at, datetime) else str(at)[:10]
        groups.setdefault((link, visitor, sub, day), []).append(bool(unique))
    per_owner = Counter(
        owners[int(str(key[0]))] for key, flags in groups.items() for flag in flags if flag
    )
    return groups, per_owner


async def test_kill_9_in_a_click_storm_loses_no_answered_click_and_counts_none_twice(
    setup: Setup, request: pytest.FixtureRequest
) -> None:
    bot = BotProcess(setup.env, setup.folder / "bot.log")
    bot.start()
    await bot.wait_ready()
    base = setup.env["PUBLIC_URL"]
    received: list[str] = []
    stop = asyncio.Event()
    load = asyncio.create_task(storm(base, setup.codes, received, stop))
    await asyncio.sleep(STORM_SECONDS)
    assert bot.process is not None
    bot.process.kill()  # SIGKILL: no shutdown, no drain
    bot.process.wait(10)
    killed_at = time.monotonic()
    unanswered = await load
    answered = len(received)
    await db.init(setup.url)
    try:
        stored_at_the_kill = await Click.all().count()
    finally:
        await db.close()

    bot.start()  # the same spool directory
    await bot.wait_ready()
    replayed_in = time.monotonic() - killed_at
    async with aiohttp.ClientSession() as http, http.get(f"{base}/ready") as resp:
        backlog = (await resp.json())["clicks"]
    assert bot.stop() == 0, bot.tail()

    await db.init(setup.url)
    try:
        rows = await Click.all().values_list(
            "click_id", "link_id", "visitor", "sub", "is_unique", "is_bot", "created_at"
        )
        owners = dict(await Link.all().values_list("id", "affiliate_id"))
        scores = dict(
            await RaceEntry.filter(race_id=setup.race_id).values_list("affiliate_id", "score")
        )
    finally:
        await db.close()

    stored = Counter(row[0] for row in rows)
    groups, unique_per_owner = tally(rows, owners)
    figures = {
        "answered_302": answered,
        "unanswered_at_the_kill": unanswered,
        "rows": len(rows),
        "stored_at_the_kill": stored_at_the_kill,
        "replayed_at_the_restart": len(rows) - stored_at_the_kill,
        "answered_without_a_row": len(set(received) - set(stored)),
        "rows_stored_twice": sum(1 for count in stored.values() if count > 1),
        "rows_without_an_answer": len(set(stored) - set(received)),
        "backlog_after_restart": backlog["clicks"],
        "restart_to_ready_s": round(replayed_in, 2),
    }
    write_figures(setup.folder / "spool-kill.json", request.node.name, figures)
    print(f"\n{request.node.name}: {figures}")

    assert answered > 200, figures  # a real storm
    assert figures["replayed_at_the_restart"] > 0, figures  # the kill left clicks in the spool
    assert any("an earlier run had left in the spool" in line for line in bot.log_lines("INFO"))
    assert figures["answered_without_a_row"] == 0, figures
    assert figures["rows_stored_twice"] == 0, figures
    # A click spooled whose 302 the kill cut off is stored too: at most those in flight.
    assert figures["rows_without_an_answer"] <= WORKERS, figures
    assert backlog["clicks"] == 0 and backlog["lost"] == 0, backlog
    # Each visitor is unique once per link and day, whatever was replayed.
    assert all(flags.count(True) == 1 for flags in groups.values()), groups
    # The race counts each unique click once.
    assert {a: s for a, s in scores.items() if s} == dict(unique_per_owner), (scores, figures)
