"""kill -9 of the real `python -m bot run` process in the middle of work, then a restart, on a
PostgreSQL cluster and a Redis of the test's own. Each count is checked exactly:

* a postback storm: every postback answered 200 is stored, once; the advertiser's retries of
  those that got no answer are stored once each; every stored conversion is credited once;
* race finalisation (many races ending at once): every race is finished after the restart,
  every prize credited once, every balance what its prizes make it.

Run them alone with `python3 dev.py test tests/outage/test_kill9.py -s`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import fakeredis
import pytest

from bot import db
from bot.services.affiliates import AffiliateService, Profile, create_link
from bot.services.races import RaceService
from models import (
    Affiliate,
    Click,
    Conversion,
    LedgerEntry,
    LedgerKind,
    Link,
    Offer,
    OfferKind,
    Race,
    RaceEntry,
    RaceMetric,
    RaceStatus,
)
from tests.factories import race_draft
from tests.outage.harness import (
    BotProcess,
    FakeBotApi,
    PgCluster,
    free_port,
    own_services,
    process_env,
    signed_postback,
    write_figures,
)

pytestmark = [pytest.mark.outage, pytest.mark.usefixtures("steady_collector")]  # it times answers

SECRET = "kill-secret"
FIGURES = Path(__file__).resolve().parents[2] / ".cache" / "kill9-figures.json"


@dataclass
class World:
    pg: PgCluster
    api: FakeBotApi
    bot: BotProcess
    base: str

    async def restart(self) -> None:
        self.bot.start()
        await self.bot.wait_ready()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with own_services() as (api, pg, redis):
        port = free_port()
        env = process_env(
            api,
            port,
            tmp_path / "data",
            DATABASE_URL=pg.url,
            REDIS_URL=redis.url,
            RACE_TICK_SECONDS="5",
            LEASE_SECONDS="3",  # the killed process's lease ends soon after the kill
        )
        bot = BotProcess(env, tmp_path / "bot.log")
        try:
            yield World(pg, api, bot, f"http://127.0.0.1:{port}")
        finally:
            code = bot.stop()
        assert code in (0, None), "the bot did not stop cleanly:\n" + bot.tail()


def kill_9(bot: BotProcess) -> None:
    assert bot.process is not None and bot.process.poll() is None, bot.tail()
    bot.process.kill()
    bot.process.wait(10)


def save_figures(name: str, figures: dict[str, object]) -> None:
    FIGURES.parent.mkdir(exist_ok=True)
    write_figures(FIGURES, name, figures)
    print(f"\n{name}: {figures}")


# -- a postback storm ----------------------------------------------------------------------


async def seed_postbacks(url: str) -> tuple[int, str]:
    """An offer with a known secret (approved on arrival) and one stored click."""
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
        affiliate, _ = await AffiliateService().load_or_create(
            Profile(tg_id=910_000, first_name="P")
        )
        await create_link(affiliate, offer.id)
        link = await Link.get(offer_id=offer.id)
        click = await Click.create(
            click_id="c" * 32,
            link_id=link.id,
            visitor="v",
            is_unique=True,
            is_bot=False,
            created_at=datetime.now(UTC) - timedelta(hours=1),
        )
        return offer.id, click.click_id
    finally:
        await db.close()


def signed(txid: str, click_id: str) -> dict[str, str]:
    return signed_postback(SECRET, txid, click_id)


async def postback(
    http: aiohttp.ClientSession, url: str, txid: str, click_id: str
) -> tuple[int, str]:
    """(status, verdict) of one postback; (0, "") when no answer came (connection lost)."""
    try:
        async with http.get(url, params=signed(txid, click_id)) as resp:
            body = await resp.json(content_type=None)
            return resp.status, str(body.get("result", ""))
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return 0, ""


async def test_kill_9_in_a_postback_storm_loses_no_acknowledged_postback_and_credits_once(
    world: World,
) -> None:
    offer_id, click_id = await seed_postbacks(world.pg.url)
    await world.restart()
    url = f"{world.base}/postback/{offer_id}"
    answers: dict[str, tuple[int, str]] = {}
    numbers = itertools.count()
    stop = asyncio.Event()

    async def advertiser(http: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            txid = f"T-{next(numbers)}"
            answers[txid] = await postback(http, url, txid, click_id)

    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        servers = [asyncio.create_task(advertiser(http)) for _ in range(32)]
        deadline = time.monotonic() + 60
        while sum(1 for s, _ in answers.values() if s == 200) < 300:
            assert time.monotonic() < deadline, Counter(answers.values())
            await asyncio.sleep(0.05)
        kill_9(world.bot)  # in the middle of group commits
        stop.set()
        await asyncio.gather(*servers)
        acknowledged = {t for t, (s, v) in answers.items() if s == 200 and v == "stored"}
        unanswered = {t for t, (s, _) in answers.items() if s != 200}

        await world.restart()
        # The advertiser retries what got no answer; a retry of an acknowledged one is a repeat.
        retried = Counter(
            [(await postback(http, url, t, click_id))[1] for t in sorted(unanswered)]
        )
        again = Counter(
            [(await postback(http, url, t, click_id))[1] for t in sorted(acknowledged)[:50]]
        )

    await db.init(world.pg.url)
    try:
        stored = Counter(await Conversion.all().values_list("txid", flat=True))
        credits = await LedgerEntry.filter(kind=LedgerKind.EARNING).count()
    finally:
        await db.close()

    figures = {
        "sent": len(answers),
        "acknowledged": len(acknowledged),
        "unanswered_at_the_kill": len(unanswered),
        "retries_by_result": dict(retried),
        "acknowledged_lost": len(acknowledged - set(stored)),
        "stored": sum(stored.values()),
        "stored_twice": sum(1 for n in stored.values() if n > 1),
        "commissions_credited": credits,
    }
    save_figures("postback_storm", figures)

    assert unanswered, "the kill came after the storm: nothing was in flight"
    assert figures["acknowledged_lost"] == 0
    assert figures["stored_twice"] == 0
    assert set(stored) == set(answers)  # every postback, after the advertiser's retries
    assert set(retried) <= {"stored", "duplicate"}  # stored before the kill, or now
    assert set(again) == {"duplicate"}
    assert credits == len(stored)  # one commission each


# -- race finalisation ---------------------------------------------------------------------

RACES = 40
ENTRIES = 60
PRIZES = [(1, "", 500), (2, "", 300), (3, "", 100)]


async def seed_races(url: str) -> list[int]:
    """RACES click races with ENTRIES affiliates each (distinct scores), all ended a moment
    ago, so that the process finalises them one after the other as soon as it starts."""
    await db.init(url)
    try:
        affiliates = []
        for n in range(ENTRIES):
            affiliate, _ = await AffiliateService().load_or_create(
                Profile(tg_id=920_000 + n, first_name=f"F{n}")
            )
            affiliates.append(affiliate)
        races = RaceService(fakeredis.FakeAsyncRedis())
        ids = []
        now = datetime.now(UTC)
        for r in range(RACES):
            race = await races.create(
                race_draft(metric=RaceMetric.CLICKS, title=f"Cup {r}", prizes=PRIZES)
            )
            ids.append(race.id)
            await RaceEntry.bulk_create(
                [
                    RaceEntry(
                        race_id=race.id,
                        affiliate_id=a.id,
                        score=(n * 7 + r) % ENTRIES + 1,
                        reached_at=now,
                    )
                    for n, a in enumerate(affiliates)
                ]
            )
        await races.start_due()
        await Race.filter(id__in=ids).update(ends_at=now)
        return ids
    finally:
        await db.close()


async def test_kill_9_during_race_finalisation_credits_every_prize_once(world: World) -> None:
    ids = await seed_races(world.pg.url)
    world.bot.start()
    # Killed as soon as the first race is reported finished: the others are in the middle.
    deadline = time.monotonic() + 60
    while not any("finished:" in line for line in world.bot.tail(400).splitlines()):
        assert time.monotonic() < deadline, world.bot.tail()
        await asyncio.sleep(0.005)
    kill_9(world.bot)

    await db.init(world.pg.url)
    try:
        finished_at_kill = await Race.filter(id__in=ids, status=RaceStatus.FINISHED).count()
    finally:
        await db.close()

    # Once the killed process's lease has run out, the new one's tick finalises the rest.
    await world.restart()
    await db.init(world.pg.url)
    try:
        deadline = time.monotonic() + 3 + 2 * 5
        while await Race.filter(id__in=ids, status=RaceStatus.RUNNING).exists():
            assert time.monotonic() < deadline, "the restarted process did not finish them"
            await asyncio.sleep(0.2)
        statuses = Counter(await Race.filter(id__in=ids).values_list("status", flat=True))
        prizes = await LedgerEntry.filter(kind=LedgerKind.PRIZE).values_list("key", "amount_minor")
        balances: Counter[int] = Counter()
        for affiliate_id, amount in await LedgerEntry.all().values_list(
            "affiliate_id", "amount_minor"
        ):
            balances[int(affiliate_id)] += int(amount)
        winners: Counter[int] = Counter()
        for race_id in ids:
            for affiliate_id, place in await RaceEntry.filter(
                race_id=race_id, final_place__isnull=False, final_place__lte=len(PRIZES)
            ).values_list("affiliate_id", "final_place"):
                winners[int(affiliate_id)] += dict((p, a) for p, _, a in PRIZES)[int(place)]
    finally:
        await db.close()

    figures = {
        "races": RACES,
        "finished_at_the_kill": finished_at_kill,
        "finished_after_restart": statuses.get(RaceStatus.FINISHED, 0),
        "prize_credits": len(prizes),
        "prize_credits_expected": RACES * len(PRIZES),
    }
    save_figures("race_finalisation", figures)

    assert 0 < finished_at_kill < RACES, "the kill did not land in the middle"
    assert statuses == Counter({RaceStatus.FINISHED: RACES})
    assert len(prizes) == len({key for key, _ in prizes}) == RACES * len(PRIZES)
    assert sorted(amount for _, amount in prizes) == sorted(
        amount for _, _, amount in PRIZES for _ in range(RACES)
    )
    assert balances == winners  # every balance is exactly its prizes


# -- a broadcast ---------------------------------------------------------------------------

AUDIENCE = 120
NEWS = "Kill-test news: the winter cup starts tomorrow"


async def seed_broadcast(url: str) -> int:
    """AUDIENCE affiliates, and a broadcast to all of them queued in the outbox (as the admin
    panel's confirm does)."""
    from bot.services.broadcasts import Audience, BroadcastService, Draft
    from bot.services.outbox import OutboxService

    await db.init(url)
    try:
        for n in range(AUDIENCE):
            await AffiliateService().load_or_create(Profile(tg_id=930_000 + n, first_name="B"))
        await Affiliate.filter(tg_id__gte=930_000).update(started_at=datetime.now(UTC))
        broadcast = await BroadcastService(OutboxService()).start(
            1, Draft(NEWS, None, [], Audience.ALL, "")
        )
        return broadcast.id
    finally:
        await db.close()


async def test_kill_9_during_a_broadcast_sends_everyone_one_copy(world: World) -> None:
    from models import Outbox

    broadcast_id = await seed_broadcast(world.pg.url)

    def delivered() -> Counter[str]:
        return Counter(
            p["chat_id"] for _, m, p in world.api.sent if m == "sendMessage" and p["text"] == NEWS
        )

    world.bot.start()
    deadline = time.monotonic() + 60
    while sum(delivered().values()) < AUDIENCE // 3:  # paced at 30 a second
        assert time.monotonic() < deadline, world.bot.tail()
        await asyncio.sleep(0.01)
    kill_9(world.bot)
    await asyncio.sleep(0.5)  # a request already on the wire still reaches the Bot API
    at_the_kill = sum(delivered().values())

    await db.init(world.pg.url)
    try:
        recorded_at_the_kill = await Outbox.filter(
            broadcast_id=broadcast_id, sent_at__isnull=False
        ).count()
        await world.restart()
        deadline = time.monotonic() + 3 + AUDIENCE / 30 + 20
        while await Outbox.filter(broadcast_id=broadcast_id, sent_at__isnull=True).exists():
            assert time.monotonic() < deadline, world.bot.tail()
            await asyncio.sleep(0.2)
        recorded = await Outbox.filter(broadcast_id=broadcast_id, sent_at__isnull=False).count()
        failed = await Outbox.filter(broadcast_id=broadcast_id, error__isnull=False).count()
    finally:
        await db.close()

    copies = delivered()
    figures = {
        "audience": AUDIENCE,
        "delivered_at_the_kill": at_the_kill,
        "recorded_at_the_kill": recorded_at_the_kill,
        "delivered": sum(copies.values()),
        "recorded_sent": recorded,
        "failed": failed,
        "people_with_two_copies": sum(1 for n in copies.values() if n > 1),
    }
    save_figures("broadcast", figures)

    assert 0 < at_the_kill < AUDIENCE, "the kill did not land in the middle"
    assert len(copies) == AUDIENCE and recorded == AUDIENCE and failed == 0
    # What Telegram took but the killed process had not recorded yet is sent again: at most
    # the one message in flight at the kill (the pace is one at a time).
    assert at_the_kill - recorded_at_the_kill <= 1
    assert figures["people_with_two_copies"] == at_the_kill - recorded_at_the_kill
