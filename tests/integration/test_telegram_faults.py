"""Telegram answering 429, 403, 400, 5xx, an HTML error page, or nothing in time: what a user
sees (each message once, none lost silently) and what an operator finds (the outbox's record,
the logs), for every path that talks to Telegram. The Bot API is a real local HTTP server
(tests/fake_telegram.py), so aiogram's own session maps the answers and times out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aiogram import Bot
from loguru import logger

from bot.services.affiliates import AffiliateService
from bot.services.outbox import BLOCKED as BLOCKED_REASON
from bot.services.outbox import MAX_ATTEMPTS, Letter, OutboxService
from bot.telegram.sender import BACKOFF_FIRST, OutboxSender, Pacer
from models import Affiliate, Outbox
from tests.fake_telegram import (
    BAD_GATEWAY,
    BLOCKED,
    LOST_ANSWER,
    NO_ANSWER,
    SERVER_ERROR,
    FakeTelegram,
    bad_request,
    flood,
)


class FakeTime:
    """The sender's clock and sleep: waits are recorded, not spent."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.001)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    made = telegram.bot()
    yield made
    await made.session.close()


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sender(bot: Bot, time: FakeTime, database: str) -> OutboxSender:
    pacer = Pacer(30, clock=time.clock, sleep=time.sleep)
    return OutboxSender(bot, OutboxService(), AffiliateService(), pacer=pacer)


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """What the process logged at WARNING and above."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{level} {message}")
    yield lines
    logger.remove(sink)


async def queue(*letters: Letter) -> None:
    await OutboxService().enqueue(list(letters))


# --- the outbox sender: notices, race news, results and broadcasts all go through it ------


async def test_sender_after_a_429_waits_retry_after_then_sends_once(
    sender: OutboxSender, telegram: FakeTelegram, time: FakeTime
) -> None:
    await queue(Letter("a", 55, "You moved up"))
    telegram.answer("sendMessage", flood(7))

    delivered = await sender.drain(30)

    assert delivered == 1
    assert len(telegram.calls_of("sendMessage", 55)) == 2  # the refused try, then the send
    assert [p["text"] for p in telegram.seen("sendMessage", 55)] == ["You moved up"]
    assert 7 in time.sleeps  # retry_after honoured before the second try
    row = await Outbox.get(key="a")
    assert row.sent_at is not None and row.error is None and row.attempts == 1


async def test_sender_marks_who_blocked_the_bot_and_never_tries_again(
    sender: OutboxSender, telegram: FakeTelegram
) -> None:
    await Affiliate.create(tg_id=66, first_name="B")
    await queue(Letter("b", 66, "news"))
    telegram.answer("sendMessage", BLOCKED)

    await sender.drain(5)
    await sender.drain(5)  # the next scheduled drain

    assert len(telegram.calls_of("sendMessage", 66)) == 1
    row = await Outbox.get(key="b")
    assert row.sent_at is not None and row.error == BLOCKED_REASON
    assert (await Affiliate.get(tg_id=66)).blocked_at is not None


async def test_sender_records_a_400_with_its_reason_and_never_tries_again(
    sender: OutboxSender, telegram: FakeTelegram
) -> None:
    await queue(Letter("c", 77, "<b>broken"))
    telegram.answer("sendMessage", bad_request("can't parse entities: unclosed tag"))

    await sender.drain(5)
    await sender.drain(5)

    assert len(telegram.calls_of("sendMessage", 77)) == 1
    row = await Outbox.get(key="c")
    assert row.sent_at is not None
    assert row.error is not None and "can't parse entities" in row.error


async def test_sender_retries_5xx_and_an_html_error_page_with_backoff_then_sends_once(
    sender: OutboxSender, telegram: FakeTelegram, time: FakeTime
) -> None:
    await queue(Letter("d", 88, "payout approved"), Letter("e", 89, "new referral"))
    telegram.answer("sendMessage", SERVER_ERROR, BAD_GATEWAY)

    delivered = await sender.drain(60)

    assert delivered == 2
    assert [p["text"] for p in telegram.seen("sendMessage", 88)] == ["payout approved"]
    assert [p["text"] for p in telegram.seen("sendMessage", 89)] == ["new referral"]
    waits = [s for s in time.sleeps if s >= BACKOFF_FIRST]
    assert waits[:2] == [BACKOFF_FIRST, BACKOFF_FIRST * 2]  # growing while Telegram fails
    rows = await Outbox.all().order_by("id")
    assert [(r.sent_at is not None, r.error) for r in rows] == [(True, None), (True, None)]


async def test_sender_gives_up_on_a_message_telegram_keeps_failing_and_records_why(
    sender: OutboxSender, telegram: FakeTelegram
) -> None:
    await queue(Letter("f", 90, "doomed"))
    telegram.answer("sendMessage", *[SERVER_ERROR] * (MAX_ATTEMPTS + 3))

    for _ in range(MAX_ATTEMPTS + 2):
        await sender.drain(300)

    assert len(telegram.calls_of("sendMessage", 90)) == MAX_ATTEMPTS  # bounded
    assert telegram.seen("sendMessage", 90) == []
    row = await Outbox.get(key="f")
    assert row.sent_at is not None and row.attempts == MAX_ATTEMPTS
    assert row.error == "gave up: Internal Server Error"


async def test_sender_retries_a_timeout_that_never_reached_telegram_and_sends_once(
    sender: OutboxSender, telegram: FakeTelegram
) -> None:
    await queue(Letter("g", 91, "race ends in 1 h"))
    telegram.answer("sendMessage", NO_ANSWER)

    delivered = await sender.drain(60)

    assert delivered == 1
    assert len(telegram.calls_of("sendMessage", 91)) == 2
    assert [p["text"] for p in telegram.seen("sendMessage", 91)] == ["race ends in 1 h"]


async def test_a_timeout_after_telegram_took_the_message_sends_it_twice_and_says_so(
    sender: OutboxSender, telegram: FakeTelegram, warnings: list[str]
) -> None:
    """The Bot API has no idempotency key: when only the answer was lost, the outbox cannot
    tell, and sends again (at least once, rather than maybe never). One row, a second copy
    on the user's screen, and a warning that names it."""
    await queue(Letter("h", 92, "you won 50 USD"))
    telegram.answer("sendMessage", LOST_ANSWER)

    delivered = await sender.drain(60)

    assert delivered == 1
    assert len(telegram.seen("sendMessage", 92)) == 2  # the known duplicate
    row = await Outbox.get(key="h")
    assert row.sent_at is not None and row.error is None and row.attempts == 2
    assert await Outbox.all().count() == 1
    assert any("possible duplicate" in w and "h to 92" in w for w in warnings)
