"""The outbox in paid mode (PAID_BROADCAST): several sends in flight at once under the paid
pacer, against a local Bot API that takes a while to answer and counts how many requests it
holds at once. Real time: the pace is measured where Telegram would measure it."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from aiogram import Bot
from aiohttp import web
from loguru import logger

from bot.services.affiliates import AffiliateService
from bot.services.outbox import Letter, OutboxService
from bot.telegram.sender import BACKOFF_FIRST, OutboxSender, Pacer
from models import Outbox
from tests.fake_telegram import OK, SERVER_ERROR, FakeTelegram, flood

pytestmark = pytest.mark.usefixtures("database", "steady_collector")  # it times sends


@dataclass
class SlowTelegram(FakeTelegram):
    """Each request waits `latency` before it takes effect (and is stamped) and is answered."""

    latency: float = 0.05
    stamps: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, chat) sends
    flying: int = 0
    most: int = 0  # the most requests it held at once
    stamped: asyncio.Event = field(default_factory=asyncio.Event)

    async def _method(self, request: web.Request) -> web.StreamResponse:
        self.flying += 1
        self.most = max(self.most, self.flying)
        try:
            await asyncio.sleep(self.latency)
            if request.match_info["method"] == "sendMessage":
                chat = (await request.post()).get("chat_id")
                self.stamps.append((time.monotonic(), int(str(chat))))
                self.stamped.set()
            return await super()._method(request)
        finally:
            self.flying -= 1

    def sent_chats(self) -> Counter[int]:
        """Chats by how many copies took effect."""
        return Counter(int(p["chat_id"]) for p in self.seen("sendMessage"))


@pytest.fixture
async def telegram() -> AsyncIterator[SlowTelegram]:
    fake = SlowTelegram()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def bot(telegram: SlowTelegram) -> AsyncIterator[Bot]:
    made = telegram.bot()
    yield made
    await made.session.close()


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


def paid_sender(bot: Bot, rate: int = 1000, in_flight: int = 16) -> OutboxSender:
    return OutboxSender(
        bot,
        OutboxService(),
        AffiliateService(),
        paid=True,
        paid_pacer=Pacer(rate),
        in_flight=in_flight,
    )


async def queue(*letters: Letter) -> None:
    await OutboxService().enqueue(list(letters))


async def recorded() -> int:
    return await Outbox.filter(sent_at__isnull=False, error__isnull=True).count()


async def test_paid_mode_sends_many_rows_with_several_in_flight_each_once(
    bot: Bot, telegram: SlowTelegram
) -> None:
    await queue(*[Letter(f"n{i}", 1000 + i, f"news {i}") for i in range(200)])

    started = time.monotonic()
    delivered = await paid_sender(bot, in_flight=16).drain(30)
    took = time.monotonic() - started

    assert delivered == 200 == await recorded()
    assert telegram.sent_chats() == Counter({1000 + i: 1 for i in range(200)})
    assert len(telegram.calls_of("sendMessage")) == 200
    assert all(p["allow_paid_broadcast"] == "true" for p in telegram.calls_of("sendMessage"))
    assert 8 <= telegram.most <= 16  # several in flight, never more than the bound
    assert took < 200 * telegram.latency / 4  # one at a time it would take 10 s
    rows = await Outbox.all()
    assert {(r.attempts, r.error) for r in rows} == {(1, None)}


async def test_paid_mode_in_flight_keeps_the_pace_overall_and_1_a_second_per_chat(
    bot: Bot, telegram: SlowTelegram
) -> None:
    """The pace holds where Telegram counts, though sends overlap: a send's slot is dated
    when its answer comes, and a chat has at most one send in flight."""
    letters = [Letter(f"r{n}:{c}", 2000 + c, f"round {n}") for n in range(3) for c in range(15)]
    await queue(*letters)

    delivered = await paid_sender(bot, rate=20, in_flight=16).drain(30)

    assert delivered == 45 == await recorded()
    assert telegram.most > 1
    stamps = sorted(telegram.stamps)
    for start, _ in stamps:
        assert sum(1 for t, _ in stamps if start <= t < start + 1.0) <= 20
    by_chat: defaultdict[int, list[float]] = defaultdict(list)
    for t, chat in stamps:
        by_chat[chat].append(t)
    assert len(by_chat) == 15
    for times in by_chat.values():
        assert len(times) == 3
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


async def test_paid_mode_a_429_mid_flight_pauses_all_and_nothing_is_sent_twice_or_lost(
    bot: Bot, telegram: SlowTelegram, warnings: list[str]
) -> None:
    telegram.latency = 0.1
    await queue(*[Letter(f"f{i}", 3000 + i, f"flood {i}") for i in range(60)])
    telegram.answer("sendMessage", *[OK] * 20, flood(1))  # the 21st request: retry after 1 s

    delivered = await paid_sender(bot, in_flight=16).drain(30)

    assert delivered == 60 == await recorded()
    assert telegram.sent_chats() == Counter({3000 + i: 1 for i in range(60)})  # once each
    assert len(telegram.calls_of("sendMessage")) == 61  # and the refused try
    stamps = sorted(t for t, _ in telegram.stamps)
    refused = stamps[20]  # when the 429 was answered
    # the sends in flight then finish (within a latency); none starts until 1 s has passed
    assert not [t for t in stamps if refused + telegram.latency + 0.05 < t < refused + 1.0]
    assert len([t for t in stamps if refused < t <= refused + telegram.latency + 0.05]) > 1
    assert any("flood limit" in w for w in warnings)
    rows = await Outbox.all()
    assert {(r.attempts, r.error) for r in rows} == {(1, None)}


async def test_paid_mode_a_5xx_on_several_in_flight_waits_once_then_sends_each_once(
    bot: Bot, telegram: SlowTelegram, warnings: list[str]
) -> None:
    """The sends in flight when Telegram fails all fail; the wait grows once, not per send."""
    await queue(*[Letter(f"e{i}", 4000 + i, f"news {i}") for i in range(30)])
    telegram.answer("sendMessage", *[SERVER_ERROR] * 5)

    sender = paid_sender(bot, in_flight=8)
    delivered = await sender.drain(30)

    assert delivered == 30 == await recorded()
    assert telegram.sent_chats() == Counter({4000 + i: 1 for i in range(30)})
    waits = [w for w in warnings if "everything waits" in w]
    assert len(waits) == 5 and all(f"waits {BACKOFF_FIRST} s" in w for w in waits)
    assert sender.backoff == 0.0
    failed = await Outbox.filter(attempts=2)
    assert len(failed) == 5 and all(r.error is None for r in failed)


async def test_paid_mode_notices_go_first_at_the_free_pace_without_paid_broadcast(
    bot: Bot, telegram: SlowTelegram
) -> None:
    await queue(*[Letter(f"b{i}", 5000 + i, f"bulk {i}") for i in range(40)])
    await queue(*[Letter(f"p{i}", 6000 + i, f"payout {i}", bulk=False) for i in range(3)])

    delivered = await paid_sender(bot).drain(30)

    assert delivered == 43 == await recorded()
    calls = telegram.calls_of("sendMessage")
    assert [c["text"] for c in calls[:3]] == ["payout 0", "payout 1", "payout 2"]
    assert all("allow_paid_broadcast" not in c for c in calls[:3])
    assert all(c["allow_paid_broadcast"] == "true" for c in calls[3:])


async def test_paid_mode_a_drain_cut_off_mid_flight_sends_again_at_most_what_was_in_flight(
    bot: Bot, telegram: SlowTelegram
) -> None:
    """As a crash or a shutdown: what Telegram accepted and was answered is recorded; what was
    in flight may have reached it and is sent again (at least once), and nothing is lost."""
    telegram.latency = 0.1
    await queue(*[Letter(f"c{i}", 7000 + i, f"news {i}") for i in range(100)])
    sender = paid_sender(bot, in_flight=16)

    cut = asyncio.create_task(sender.drain(30))
    while len(telegram.stamps) < 40:
        telegram.stamped.clear()
        await telegram.stamped.wait()
    cut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cut
    await asyncio.sleep(telegram.latency * 2)  # the cut requests reach the stand-in anyway
    first_run = len(telegram.stamps)
    at_the_cut = await recorded()
    await paid_sender(bot, in_flight=16).drain(30)

    copies = telegram.sent_chats()
    assert set(copies) == {7000 + i for i in range(100)}  # nobody lost
    assert await recorded() == 100
    twice = sum(1 for n in copies.values() if n > 1)
    assert max(copies.values()) <= 2
    assert twice <= 16  # at most what was in flight
    assert first_run == at_the_cut + twice  # each copy that went: recorded, or sent again
