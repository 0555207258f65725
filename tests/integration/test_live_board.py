"""A live board's fan-out: every viewer gets their own card (their rank, gap, points and
outcome), the same card they would get asking alone, however the cards are built and sent
together."""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.factory import create_app
from bot.services.races import ScoreEvent, Standing, decode, encode, key
from bot.services.races.viewers import CHUNK, placed
from bot.web.api import live
from models import RaceMetric
from scheduler import jobs
from tests.factories import Factory, race_draft
from tests.miniapp import as_user, init_data
from tests.stack import Stack

Client = TestClient[Any, Any]


@pytest.fixture
async def http(stack: Stack, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    app = create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    return await aiohttp_client(app)


@pytest.fixture
async def feed(stack: Stack) -> AsyncIterator[None]:
    stack.services.feed.start()
    await asyncio.wait_for(stack.services.feed.subscribed.wait(), 5)
    yield
    await stack.services.feed.close()


async def tick(stack: Stack) -> None:
    s = stack.services
    await jobs.tick_races(s.races, s.race_news, s.lease, s.feed)


async def watch(http: Client, race_id: int, tg_id: int, language: str) -> ClientWebSocketResponse:
    auth = quote(init_data(tg_id, language=language))
    ws = await http.ws_connect(f"/ws/races/{race_id}?auth={auth}")
    await ws.receive_json(timeout=5)  # the card as it was
    return ws


async def alone(http: Client, race_id: int, tg_id: int, language: str) -> Any:
    headers = as_user(tg_id, language=language)
    return await (await http.get(f"/api/races/{race_id}", headers=headers)).json()


async def test_placed_reads_each_viewers_rank_points_and_the_points_above_them(
    redis: Redis,
) -> None:
    """More viewers than one script call takes, some of them not on the board, many on equal
    points (and some on equal sorted-set scores, which Redis orders by member)."""
    rng = random.Random(7)
    starts_at = datetime(2026, 1, 1, tzinfo=UTC)
    members = {
        aff: encode(
            rng.randint(0, 40), starts_at + timedelta(seconds=rng.randint(0, 9)), starts_at
        )
        for aff in range(1, 2 * CHUNK + 300)
    }
    await redis.zadd(key(5), {str(a): v for a, v in members.items()})
    viewers = [*rng.sample(sorted(members), 2 * CHUNK), 900_001, 900_002]
    rng.shuffle(viewers)

    found = await placed(redis, 5, viewers, gaps=True)
    without_gaps = await placed(redis, 5, viewers, gaps=False)

    # the board as ZREVRANGE orders it: by score, then by member, both descending
    order = sorted(members, key=lambda a: (members[a], str(a)), reverse=True)
    rank = {a: r for r, a in enumerate(order, 1)}
    expected = {
        a: (
            Standing(a, rank[a], decode(members[a])),
            decode(members[order[rank[a] - 2]]) if rank[a] > 1 else None,
        )
        for a in viewers
        if a in members
    }
    assert {a: (p.standing, p.above) for a, p in found.items()} == expected
    assert {a: (p.standing, p.above) for a, p in without_gaps.items()} == {
        a: (s, None) for a, (s, _) in expected.items()
    }
    assert len(found) == 2 * CHUNK


async def test_every_viewer_gets_their_own_card_when_the_senders_are_fewer_than_them(
    http: Client,
    stack: Stack,
    factory: Factory,
    feed: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A money race one joins: the leader (marked in the top), people further down, one who
    has not joined, one person on two sockets, two languages, a socket gone before the tick;
    two senders for them all."""
    monkeypatch.setattr(live, "SENDS_AT_ONCE", 2)
    monkeypatch.setattr(live, "YIELD_EVERY", 1)
    races = stack.services.races
    race = await races.create(race_draft(metric=RaceMetric.REVENUE, opt_in=True))
    people = [await factory.affiliate(tg_id=700 + n, name=f"P{n}") for n in range(14)]
    for person in people[:12]:
        await races.join(race.id, person.id)

    async def score(points: dict[int, tuple[int, int]]) -> None:
        now = datetime.now(UTC)
        await races.scoring.apply(
            [
                ScoreEvent(RaceMetric.REVENUE, people[n].id, None, now, final, provisional, "USD")
                for n, (final, provisional) in points.items()
            ]
        )
        await tick(stack)

    await tick(stack)
    await score({n: (100 * (n + 1), 50 * n) for n in range(12)})
    watching = [(0, "ru"), (1, "en"), (5, "en"), (9, "en"), (11, "ru"), (12, "ru"), (13, "en")]
    watching.append((5, "en"))
    sockets = [await watch(http, race.id, 700 + n, language) for n, language in watching]
    gone = await watch(http, race.id, 711, "en")
    await gone.close()
    try:
        await score({0: (5000, 0), 9: (1, 7)})  # 0 leads now; 9 gains a cent, still 4th
        cards = [(await ws.receive_json(timeout=5))["card"] for ws in sockets]
    finally:
        for ws in sockets:
            await ws.close()
    asked = [await alone(http, race.id, 700 + n, language) for n, language in watching]

    assert cards == asked
    by_person = {n: card for (n, _), card in zip(watching, cards, strict=True)}
    assert by_person[0]["me"]["rank"] == 1 and by_person[0]["gap"] is None
    assert [row["me"] for row in by_person[0]["top"]][:2] == [True, False]
    assert by_person[9]["me"]["rank"] == 4 and by_person[9]["gap"]["points"] == 100
    assert by_person[9]["provisional_text"] == "$4.57"
    assert by_person[12]["me"] is None and by_person[12]["can_join"] is True
    assert not any(row["me"] for row in by_person[12]["top"])
    assert cards[2] == cards[7]  # one person, two sockets: the same card on both


async def test_a_finished_race_sends_each_viewer_their_stored_outcome(
    http: Client, stack: Stack, factory: Factory, feed: None
) -> None:
    races = stack.services.races
    race = await races.create(race_draft(metric=RaceMetric.CLICKS))
    people = [await factory.affiliate(tg_id=800 + n, name=f"F{n}") for n in range(4)]
    now = datetime.now(UTC)
    await tick(stack)
    await races.scoring.apply(
        [ScoreEvent(RaceMetric.CLICKS, p.id, None, now, final=n + 1) for n, p in enumerate(people)]
    )
    await tick(stack)
    sockets = [await watch(http, race.id, 800 + n, "en") for n in range(4)]
    try:
        await races.finish_now(race.id)
        await stack.services.feed.publish(race.id)
        cards = [(await ws.receive_json(timeout=5))["card"] for ws in sockets]
    finally:
        for ws in sockets:
            await ws.close()
    asked = [await alone(http, race.id, 800 + n, "en") for n in range(4)]

    assert cards == asked
    assert [c["result"]["place"] for c in cards] == [4, 3, 2, 1]
    assert cards[3]["result"]["prize"] == "$50.00 + Hoodie" and cards[0]["result"]["prize"] is None
    assert all(c["gap"] is None and c["race"]["status"] == "finished" for c in cards)


def test_the_collector_is_paused_while_any_fan_out_runs_and_resumed_after() -> None:
    collector = live._Collector()
    was = gc.isenabled()
    gc.enable()
    try:
        with collector.paused():
            with collector.paused():
                inner = gc.isenabled()
            after_inner = gc.isenabled()
        after = gc.isenabled()
        with pytest.raises(ValueError), collector.paused():
            raise ValueError
        after_error = gc.isenabled()
        gc.disable()
        with collector.paused():
            pass
        left_off = not gc.isenabled()
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()

    assert (inner, after_inner, after, after_error, left_off) == (False, False, True, True, True)


async def test_a_live_board_declines_compression_a_browser_offers(
    http: Client, stack: Stack
) -> None:
    race = await stack.services.races.create(race_draft())
    auth = quote(init_data(901))

    ws = await http.ws_connect(f"/ws/races/{race.id}?auth={auth}", compress=15)
    try:
        first = await ws.receive_json(timeout=5)
    finally:
        await ws.close()

    assert first["type"] == "card" and ws.compress == 0
