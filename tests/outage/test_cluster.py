"""Two real instances of `python -m bot run` (separate processes, every role, a scheduler
candidate each) on one PostgreSQL and one Redis of the test's own:

* both answer webhooks and redirects, and an update Telegram sends to both is handled once;
* exactly one of them ticks races (the lease holder), and a WebSocket client on the other
  sees the tick live;
* kill -9 of the leader hands the lease to the other within the lease time, and it goes on
  ticking and finalising;
* every race's prizes are credited once, also after the killed instance comes back.

Run it alone with `python3 dev.py test tests/outage/test_cluster.py -s`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import fakeredis
import pytest
from redis.asyncio import Redis

from bot import db
from bot.services.affiliates import AffiliateService, Profile, create_link
from bot.services.races import RaceService
from models import LedgerEntry, LedgerKind, Offer, OfferKind, Race, RaceMetric, RaceStatus
from tests.factories import race_draft
from tests.miniapp import init_data
from tests.outage.harness import (
    TOKEN,
    BotProcess,
    FakeBotApi,
    PgCluster,
    RedisServer,
    free_port,
    own_services,
    write_figures,
)

pytestmark = [pytest.mark.outage, pytest.mark.usefixtures("steady_collector")]  # it times answers

SECRET = "cluster-secret"
LEASE_SECONDS = 3.0
TICK_SECONDS = 5
PRIZES = [(1, "", 300), (2, "", 100)]
RACERS = 3
LEASE_KEY = "lease:scheduler"
FIGURES = Path(__file__).resolve().parents[2] / ".cache" / "cluster-figures.json"


@dataclass
class Cluster:
    pg: PgCluster
    redis: RedisServer
    api: FakeBotApi
    folder: Path
    env: dict[str, str]
    codes: list[str]
    racer_ids: list[int]
    races: list[int]
    instances: dict[str, BotProcess]

    def instance(self, name: str) -> BotProcess:
        if name not in self.instances:
            port = free_port()
            env = self.env | {
                "WEB_PORT": str(port),
                "PUBLIC_URL": f"http://127.0.0.1:{port}",
                "DATA_DIR": str(self.folder / name),
            }
            self.instances[name] = BotProcess(env, self.folder / f"{name}.log")
        return self.instances[name]

    def base(self, name: str) -> str:
        return f"http://127.0.0.1:{self.instances[name].port}"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with own_services() as (api, pg, redis):
        env = {
            "BOT_TOKEN": TOKEN,
            "BOT_API_URL": api.url,
            "WEB_HOST": "127.0.0.1",
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis.url,
            "WEBHOOK_URL": "https://bot.example/webhook",
            "WEBHOOK_SECRET": SECRET,
            "LEASE_SECONDS": str(LEASE_SECONDS),
            "RACE_TICK_SECONDS": str(TICK_SECONDS),
            "RACE_NEWS_COOLDOWN": "0",
            "CLICK_LOADER_INTERVAL_MS": "50",
            "THROTTLE_RATE": "1000",
            "LOG_LEVEL": "INFO",
        }
        world = Cluster(pg, redis, api, tmp_path, env, [], [], [], {})
        try:
            await seed(world)
            yield world
        finally:
            for process in world.instances.values():
                process.stop()


async def seed(world: Cluster) -> None:
    """Three affiliates with a link each, and two click races running for a day: the test
    ends each of them when it wants the finalisation to happen."""
    await db.init(world.pg.url)
    try:
        offer = await Offer.create(
            title="Shop",
            kind=OfferKind.URL,
            target_url="https://adv.example/?cid={click_id}",
            payout_minor=100,
            currency="USD",
        )
        for n in range(RACERS):
            affiliate, _ = await AffiliateService().load_or_create(
                Profile(tg_id=700_000 + n, first_name=f"R{n}")
            )
            world.racer_ids.append(affiliate.id)
            world.codes.append((await create_link(affiliate, offer.id)).code)
        races = RaceService(fakeredis.FakeAsyncRedis())
        for title in ("First cup", "Second cup"):
            race = await races.create(
                race_draft(metric=RaceMetric.CLICKS, title=title, prizes=PRIZES)
            )
            world.races.append(race.id)
        await races.start_due()
    finally:
        await db.close()


async def metric(http: aiohttp.ClientSession, base: str, name: str) -> float:
    async with http.get(f"{base}/metrics") as resp:
        text = await resp.text()
    found = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def leaders(http: aiohttp.ClientSession, world: Cluster, names: list[str]) -> list[str]:
    held = [await metric(http, world.base(n), "affrace_scheduler_leader") for n in names]
    return [n for n, h in zip(names, held, strict=True) if h == 1.0]


async def ticks(http: aiohttp.ClientSession, world: Cluster, name: str) -> float:
    return await metric(http, world.base(name), "affrace_race_tick_seconds_count")


async def eventually(check: Any, seconds: float, what: str) -> float:
    """Wait until `check()` is true; return how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": f"U{user_id}"},
            "from": {"id": user_id, "is_bot": False, "first_name": f"U{user_id}"},
            "text": text,
        },
    }


async def post_update(http: aiohttp.ClientSession, base: str, body: dict[str, Any]) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(f"{base}/webhook", json=body, headers=headers) as resp:
        return resp.status


async def end_race(world: Cluster, race_id: int) -> None:
    """The race's end comes now (as if its time had run out)."""
    await db.init(world.pg.url)
    try:
        await Race.filter(id=race_id).update(ends_at=datetime.now(UTC) - timedelta(seconds=1))
    finally:
        await db.close()


async def race_state(world: Cluster, race_id: int) -> tuple[RaceStatus, list[tuple[int, int]]]:
    """The race's status and the prize credits of it: (affiliate id, amount) each."""
    await db.init(world.pg.url)
    try:
        race = await Race.get(id=race_id)
        prizes = await LedgerEntry.filter(
            kind=LedgerKind.PRIZE, key__startswith=f"race{race_id}:prize:"
        ).values_list("affiliate_id", "amount_minor")
        return race.status, sorted((int(a), int(m)) for a, m in prizes)
    finally:
        await db.close()


async def test_two_instances_share_the_work_and_hand_the_lease_over_on_kill_9(
    cluster: Cluster,
) -> None:
    world = cluster
    first, second = world.races
    figures: dict[str, float] = {}
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await start_a_leading_then_b(http, world)
        await both_answer_webhooks_and_redirects(http, world)
        await only_the_leader_ticks(http, world)
        figures["ws_update_after_clicks_s"] = await b_client_sees_a_tick(http, world, first)
        await finalised_by_the_leader(world, first)  # A leads
        figures["lease_handover_s"] = await kill_9_the_leader(http, world)
        await finalised_by_the_leader(world, second)  # B leads now

        # A comes back (its catch-up tick runs at start): nothing is credited again.
        world.instances["a"].start()
        await world.instances["a"].wait_ready()
        await asyncio.sleep(TICK_SECONDS + 1)
        for race_id in world.races:
            status, prizes = await race_state(world, race_id)
            assert status is RaceStatus.FINISHED
            assert sorted(amount for _, amount in prizes) == [100, 300]
            assert len({affiliate for affiliate, _ in prizes}) == 2
        _, first_prizes = await race_state(world, first)
        assert (world.racer_ids[0], 300) in first_prizes  # the most unique clicks
        assert await leaders(http, world, ["a", "b"]) == ["b"]  # B kept it

    for name in ("a", "b"):
        code = world.instances[name].stop()
        assert code == 0, f"{name} did not stop cleanly:\n" + world.instances[name].tail()
        errors = world.instances[name].log_lines("ERROR")
        assert not errors, "\n".join(errors[:10])
    FIGURES.parent.mkdir(exist_ok=True)
    write_figures(FIGURES, "two_instances", figures)
    print(f"\ncluster figures: {figures}")


async def start_a_leading_then_b(http: aiohttp.ClientSession, world: Cluster) -> None:
    """A starts first and takes the lease with its catch-up tick; B is a candidate."""
    a = world.instance("a")
    a.start()
    await a.wait_ready()
    await eventually(lambda: _is(leaders(http, world, ["a"]), ["a"]), 10, "A holds the lease")
    b = world.instance("b")
    b.start()
    await b.wait_ready()


async def both_answer_webhooks_and_redirects(http: aiohttp.ClientSession, world: Cluster) -> None:
    # Each reply goes out through the Bot API.
    assert await post_update(http, world.base("a"), update(1, 501, "/start")) == 200
    assert await post_update(http, world.base("b"), update(2, 502, "/start")) == 200
    assert world.api.texts_to(501) and world.api.texts_to(502)
    # One update that Telegram sent to both (a retry after a timeout) is handled once.
    statuses = await asyncio.gather(
        post_update(http, world.base("a"), update(3, 503, "/start")),
        post_update(http, world.base("b"), update(3, 503, "/start")),
    )
    assert sorted(statuses) in ([200, 200], [200, 503]), statuses
    await asyncio.sleep(0.5)
    assert len(world.api.texts_to(503)) == 1
    for name in ("a", "b"):
        async with http.get(
            f"{world.base(name)}/r/{world.codes[0]}",
            headers={"User-Agent": f"Mozilla/5.0 on-{name}"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 302
            assert resp.headers["Location"].startswith("https://adv.example/?cid=")


async def only_the_leader_ticks(http: aiohttp.ClientSession, world: Cluster) -> None:
    """Over two tick periods A's tick count grows and B's stays 0."""
    before = await ticks(http, world, "a")
    await asyncio.sleep(2 * TICK_SECONDS + 1)
    assert await ticks(http, world, "a") >= before + 1
    assert await ticks(http, world, "b") == 0
    assert await leaders(http, world, ["a", "b"]) == ["a"]


async def b_client_sees_a_tick(http: aiohttp.ClientSession, world: Cluster, race: int) -> float:
    """A WebSocket client on B sees, live, the tick A makes after clicks on A; returns the
    seconds from the clicks to the update."""
    auth = init_data(700_000, token=TOKEN)
    async with http.ws_connect(f"{world.base('b')}/ws/races/{race}", params={"auth": auth}) as ws:
        card = json.loads((await ws.receive(timeout=10)).data)["card"]
        clicked = time.monotonic()
        # Four unique visitors for racer 0, two for racer 1.
        for visitor, racer in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0)]:
            async with http.get(
                f"{world.base('a')}/r/{world.codes[racer]}",
                headers={"User-Agent": f"Mozilla/5.0 visitor-{visitor}-{racer}"},
                allow_redirects=False,
            ) as resp:
                assert resp.status == 302
        while json.loads((await ws.receive(timeout=3 * TICK_SECONDS)).data)["card"] == card:
            pass
        seen = time.monotonic() - clicked
    assert await ticks(http, world, "b") == 0  # the tick B's client saw was A's
    return round(seen, 2)


async def finalised_by_the_leader(world: Cluster, race_id: int) -> None:
    await end_race(world, race_id)

    async def finished() -> bool:
        status, _ = await race_state(world, race_id)
        return status is RaceStatus.FINISHED

    await eventually(finished, 3 * TICK_SECONDS, f"the leader finalises race {race_id}")


async def kill_9_the_leader(http: aiohttp.ClientSession, world: Cluster) -> float:
    """kill -9 of A: B takes the lease within the lease time, and ticks. Returns the seconds
    from the kill to B holding the lease."""
    lease = Redis.from_url(world.redis.url)
    holder = await lease.get(LEASE_KEY)
    a = world.instances["a"]
    assert a.process is not None
    a.process.kill()
    a.process.wait(10)

    async def taken_over() -> bool:
        token = await lease.get(LEASE_KEY)
        return token is not None and token != holder

    try:
        handed = await eventually(taken_over, LEASE_SECONDS * 3, "a new holder after kill -9")
    finally:
        await lease.aclose()
    assert handed <= LEASE_SECONDS + 0.1  # the key is read every 0.1 s
    await eventually(lambda: _is(leaders(http, world, ["b"]), ["b"]), 5, "B reports it leads")
    ticked = await ticks(http, world, "b")
    await eventually(
        lambda: _grew(ticks(http, world, "b"), ticked), TICK_SECONDS + 2, "B ticks races"
    )
    return round(handed, 2)


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _grew(value: Any, before: float) -> bool:
    return bool(await value > before)


async def test_split_roles_each_do_their_part(cluster: Cluster) -> None:
    """One process per role: the web one serves visitors (and a live board fed by the
    scheduler's ticks), the bot one Telegram's updates, the scheduler one ticks; none does
    another's part."""
    world = cluster
    names = ("web", "bot", "scheduler")
    for name in names:
        process = world.instance(name)
        process.env["ROLE"] = name
        process.start()
    for name in names:
        await world.instances[name].wait_ready()
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        statuses = {}
        for name in names:
            async with http.get(
                f"{world.base(name)}/r/{world.codes[1]}", allow_redirects=False
            ) as resp:
                redirect = resp.status
            update_status = await post_update(http, world.base(name), update(10, 510, "/start"))
            statuses[name] = (redirect, update_status)
        assert statuses == {"web": (302, 404), "bot": (404, 200), "scheduler": (404, 404)}
        assert world.api.texts_to(510)  # the bot process replied
        await eventually(
            lambda: _is(leaders(http, world, list(names)), ["scheduler"]),
            LEASE_SECONDS + 2,
            "only the scheduler process holds the lease",
        )
        await b_client_sees_a_tick_split(http, world)
        assert await ticks(http, world, "web") == await ticks(http, world, "bot") == 0
        assert await ticks(http, world, "scheduler") >= 1
    for name in names:
        assert world.instances[name].stop() == 0, world.instances[name].tail()
        assert not world.instances[name].log_lines("ERROR"), world.instances[name].tail()


async def b_client_sees_a_tick_split(http: aiohttp.ClientSession, world: Cluster) -> None:
    """A client of the web process's live board sees the scheduler process's tick."""
    race = world.races[0]
    auth = init_data(700_001, token=TOKEN)
    async with http.ws_connect(
        f"{world.base('web')}/ws/races/{race}", params={"auth": auth}
    ) as ws:
        card = json.loads((await ws.receive(timeout=10)).data)["card"]
        for visitor in range(3):
            async with http.get(
                f"{world.base('web')}/r/{world.codes[2]}",
                headers={"User-Agent": f"Mozilla/5.0 split-{visitor}"},
                allow_redirects=False,
            ) as resp:
                assert resp.status == 302
        while json.loads((await ws.receive(timeout=3 * TICK_SECONDS)).data)["card"] == card:
            pass
