"""The real `python -m bot run` process, on a PostgreSQL cluster and a Redis of the test's
own, under steady traffic (click redirects, signed postbacks, /start with referral codes
through a stand-in Bot API in polling mode), while the test stops or freezes (SIGSTOP) the
database or Redis for a while and brings it back.

What must hold: every request is answered within its bound, nothing that was acknowledged is
lost, an advertiser's retry of a refused postback is stored exactly once, every chat message
gets an answer, and everything recovers by itself, with no restart. Each scenario's figures
(requests during the outage, answers by status, longest wait, lost) go to
`outage-figures.json` in the test's folder and are printed with `-s`.

Run them alone with `python3 dev.py test -m outage -s`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import db
from bot.services.affiliates import AffiliateService, Profile, create_link
from models import Click, Conversion, LedgerEntry, Link, Offer, OfferKind, Referral
from tests.outage.harness import (
    BotProcess,
    FakeBotApi,
    PgCluster,
    RedisServer,
    free_port,
    process_env,
    signed_postback,
    write_figures,
)

pytestmark = [pytest.mark.outage, pytest.mark.usefixtures("steady_collector")]  # it times answers

OUTAGE_SECONDS = 12.0
SECRET = "outage-secret"
# What the bot is configured to wait at most, and what each kind of request may take then.
ENV_TIMEOUTS = {
    "DB_CONNECT_TIMEOUT": "2",
    "DB_STATEMENT_TIMEOUT": "3",
    "DB_ACQUIRE_TIMEOUT": "2",
    "REDIS_CONNECT_TIMEOUT": "1",
    "REDIS_TIMEOUT": "1",
    "UPDATE_RETRY_SECONDS": "60",
}
BOUND_SECONDS = 10.0  # connect 2 + statement 3 (+1 on the client) + acquire 2, with margin


@dataclass
class Answer:
    kind: str
    phase: str
    status: int
    seconds: float
    key: str


@dataclass
class World:
    pg: PgCluster
    redis: RedisServer
    api: FakeBotApi
    bot: BotProcess
    base: str
    offer_id: int
    codes: list[str]
    click_id: str
    folder: Path
    answers: list[Answer] = field(default_factory=list)
    phase: str = "before"


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outage")


@pytest.fixture
async def world(world_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    pg, redis, api = PgCluster(), RedisServer(), FakeBotApi()
    folder = world_dir / request.node.name.replace("[", "-").rstrip("]")
    folder.mkdir()
    await asyncio.to_thread(pg.init)
    redis.start()
    await api.start()
    port = free_port()
    env = process_env(
        api,
        port,
        folder / "data",
        DATABASE_URL=pg.url,
        REDIS_URL=redis.url,
        REFERRAL_NOTIFY_DELAY="0",
        FRAUD_MIN_CLICK_SECONDS="0",
        **ENV_TIMEOUTS,
    )
    bot = BotProcess(env, folder / "bot.log")
    try:
        await db.migrate(pg.url)
        offer_id, codes, click_id = await seed(pg.url)
        bot.start()
        await bot.wait_ready()
        yield World(
            pg, redis, api, bot, f"http://127.0.0.1:{port}", offer_id, codes, click_id, folder
        )
    finally:
        code = bot.stop()
        await api.close()
        redis.stop()
        await asyncio.to_thread(pg.destroy)
        assert code == 0, "the bot did not stop cleanly:\n" + bot.tail()


async def seed(url: str) -> tuple[int, list[str], str]:
    """An offer with a known secret, ten affiliates with their links, and one stored click."""
    await db.init(url)
    try:
        offer = await Offer.create(
            title="Shop",
            kind=OfferKind.URL,
            target_url="https://adv.example/?cid={click_id}",
            payout_minor=250,
            currency="USD",
            secret=SECRET,
        )
        codes = []
        for n in range(10):
            affiliate, _ = await AffiliateService().load_or_create(
                Profile(tg_id=900_000 + n, first_name=f"A{n}")
            )
            codes.append((await create_link(affiliate, offer.id)).code)
        link = await Link.filter(offer_id=offer.id).first()
        assert link is not None
        click = await Click.create(
            click_id="c" * 32,
            link_id=link.id,
            visitor="v",
            is_unique=True,
            is_bot=False,
            created_at=datetime.now(UTC),
        )
        return offer.id, codes, click.click_id
    finally:
        await db.close()


def signed_query(txid: str, click_id: str) -> dict[str, str]:
    return signed_postback(SECRET, txid, click_id)


async def traffic(world: World, stop: asyncio.Event) -> None:
    """A click, a postback and, every tenth round, a /start with a referral code, every 50 ms,
    each sent without waiting for the others (as independent visitors and servers do)."""
    timeout = aiohttp.ClientTimeout(total=60)
    users = itertools.count(1)
    running: set[asyncio.Task[None]] = set()

    async def timed(kind: str, key: str, call: Any) -> None:
        phase = world.phase
        started = time.monotonic()
        try:
            async with call as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            status = 0  # no answer at all
        world.answers.append(Answer(kind, phase, status, time.monotonic() - started, key))

    async with aiohttp.ClientSession(timeout=timeout) as http:
        for n in itertools.count():
            if stop.is_set():
                break
            code = world.codes[n % len(world.codes)]
            agent = {"User-Agent": f"Mozilla/5.0 visitor-{n % 7}"}
            txid = f"T-{n}"
            calls = [
                timed(
                    "click",
                    str(n),
                    http.get(f"{world.base}/r/{code}", headers=agent, allow_redirects=False),
                ),
                timed(
                    "postback",
                    txid,
                    http.get(
                        f"{world.base}/postback/{world.offer_id}",
                        params=signed_query(txid, world.click_id),
                    ),
                ),
            ]
            for call in calls:
                task = asyncio.create_task(call)
                running.add(task)
                task.add_done_callback(running.discard)
            if n % 10 == 0:
                user = 10_000 + next(users)
                world.api.message(user, f"/start {code}")
                world.answers.append(Answer("chat", world.phase, -1, 0.0, str(user)))
            await asyncio.sleep(0.05)
        await asyncio.gather(*running)


async def run_scenario(world: World, fault: Any, heal: Any, name: str) -> dict[str, Any]:
    stop = asyncio.Event()
    load = asyncio.create_task(traffic(world, stop))
    await asyncio.sleep(3)
    world.phase = "during"
    fault()
    outage_started = time.monotonic()
    await asyncio.sleep(OUTAGE_SECONDS)
    world.phase = "after"
    heal()
    healed = time.monotonic()
    await asyncio.sleep(8)
    stop.set()
    await load
    await settle_chat(world)
    return await account(world, name, healed - outage_started)


async def settle_chat(world: World) -> None:
    """Wait until every /start has had its answer (the retry window bounds it)."""
    deadline = time.monotonic() + float(ENV_TIMEOUTS["UPDATE_RETRY_SECONDS"]) + 15
    users = [int(a.key) for a in world.answers if a.kind == "chat"]
    while time.monotonic() < deadline:
        if all(world.api.texts_to(u) for u in users):
            return
        await asyncio.sleep(0.5)


async def settled(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    """/ready once the clicks spooled during the outage have reached the database (by
    themselves), or after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        async with http.get(f"{base}/ready") as resp:
            ready: dict[str, Any] = await resp.json()
        if ready["clicks"]["clicks"] == 0 or time.monotonic() > deadline:
            return ready
        await asyncio.sleep(0.2)


async def account(world: World, name: str, outage: float) -> dict[str, Any]:
    """The figures, and every check that nothing acknowledged was lost."""
    # An advertiser retries what was refused; the bot must take it now, once.
    refused = [a.key for a in world.answers if a.kind == "postback" and a.status != 200]
    async with aiohttp.ClientSession() as http:
        for txid in refused:
            async with http.get(
                f"{world.base}/postback/{world.offer_id}",
                params=signed_query(txid, world.click_id),
            ) as resp:
                assert resp.status == 200, await resp.text()
        ready = await settled(http, world.base)

    await db.init(world.pg.url)
    try:
        stored_txids = set(await Conversion.all().values_list("txid", flat=True))
        ledger = await LedgerEntry.all().count()
        clicks_stored = await Click.all().count() - 1  # the seeded one
        referred = set(await Referral.all().values_list("referred__tg_id", flat=True))
    finally:
        await db.close()

    postbacks = [a for a in world.answers if a.kind == "postback"]
    acknowledged = {a.key for a in postbacks if a.status == 200}
    clicks = [a for a in world.answers if a.kind == "click"]
    chats = [int(a.key) for a in world.answers if a.kind == "chat"]
    welcomed = [u for u in chats if any("Welcome" in t for t in world.api.texts_to(u))]
    asked_again = [u for u in chats if any("try again" in t for t in world.api.texts_to(u))]

    figures: dict[str, Any] = {"outage_seconds": round(outage, 1)}
    for kind, items in (("click", clicks), ("postback", postbacks)):
        during = [a for a in items if a.phase == "during"]
        figures[kind] = {
            "sent": len(items),
            "sent_during": len(during),
            "answers_during": dict(Counter(str(a.status) for a in during)),
            "answers_after": dict(Counter(str(a.status) for a in items if a.phase == "after")),
            "longest_wait_s": round(max((a.seconds for a in items), default=0), 2),
            "longest_wait_during_s": round(max((a.seconds for a in during), default=0), 2),
        }
    figures["click"]["stored"] = clicks_stored
    figures["click"]["lost_redirected_uncounted"] = ready["clicks"]["lost"]
    figures["click"]["spool_backlog_at_the_end"] = ready["clicks"]["clicks"]
    figures["postback"]["acknowledged_lost"] = len(acknowledged - stored_txids)
    figures["postback"]["refused_then_retried_stored"] = len(set(refused) & stored_txids)
    figures["chat"] = {
        "sent": len(chats),
        "sent_during": len([a for a in world.answers if a.kind == "chat" and a.phase == "during"]),
        "welcomed": len(welcomed),
        "asked_to_try_again": len(asked_again),
        "unanswered": len([u for u in chats if not world.api.texts_to(u)]),
        "referrals_stored": len(referred & set(chats)),
    }
    figures["bot_errors_logged"] = len(world.bot.log_lines("ERROR"))
    write_figures(world.folder.parent / "outage-figures.json", name, figures)
    print(f"\n{name}: {figures}")

    # Nothing acknowledged is lost, nothing counts twice.
    assert figures["postback"]["acknowledged_lost"] == 0
    assert stored_txids == {a.key for a in postbacks}  # every one, after the retries
    assert ledger == len(stored_txids)
    # Every request got an answer (no hang, no dropped connection), within the bound.
    for kind in ("click", "postback"):
        assert "0" not in figures[kind]["answers_during"], figures
        assert figures[kind]["longest_wait_s"] <= BOUND_SECONDS, figures
    # Redirects always redirect, and every one is counted (the spool waits for the database).
    assert {a.status for a in clicks} == {302}, figures
    assert figures["click"]["stored"] == figures["click"]["sent"], figures
    assert figures["click"]["lost_redirected_uncounted"] == 0, figures
    # Postbacks are stored, or refused with 503 to be retried.
    assert {a.status for a in postbacks} <= {200, 503}, figures
    # Recovered by itself: everything sent well after the healing worked.
    late = [a for a in world.answers if a.phase == "after" and a.kind in ("click", "postback")]
    assert late and all(a.status in (200, 302) for a in late[len(late) // 2 :]), figures
    # Every chat message was answered; a welcome means the referral was stored.
    assert figures["chat"]["unanswered"] == 0, figures
    assert set(welcomed) <= referred
    return figures


async def test_postgres_stopped_and_started_again(world: World) -> None:
    figures = await run_scenario(world, world.pg.stop, world.pg.start, "postgres stopped")

    during = figures["postback"]["answers_during"]
    assert during.get("503", 0) > 0  # the outage was real, and said so
    assert figures["click"]["longest_wait_during_s"] < 0.5  # the spool, not the database
    assert figures["chat"]["welcomed"] == figures["chat"]["sent"]  # retried until it worked


async def test_postgres_frozen_and_thawed(world: World) -> None:
    figures = await run_scenario(world, world.pg.freeze, world.pg.thaw, "postgres frozen")

    assert figures["postback"]["answers_during"].get("503", 0) > 0
    assert figures["click"]["longest_wait_during_s"] < 0.5
    assert figures["chat"]["welcomed"] == figures["chat"]["sent"]


async def test_redis_stopped_and_started_again(world: World) -> None:
    figures = await run_scenario(world, world.redis.stop, world.redis.start, "redis stopped")

    # Redis holds no click or conversion: both go on as if nothing happened.
    assert figures["postback"]["answers_during"] == {"200": figures["postback"]["sent_during"]}
    assert figures["chat"]["welcomed"] == figures["chat"]["sent"]


async def test_redis_frozen_and_thawed(world: World) -> None:
    figures = await run_scenario(world, world.redis.freeze, world.redis.thaw, "redis frozen")

    assert figures["postback"]["answers_during"] == {"200": figures["postback"]["sent_during"]}
    assert figures["chat"]["welcomed"] == figures["chat"]["sent"]
