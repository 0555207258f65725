"""Telegram answering 429, 403, 400, 5xx, an HTML error page, or nothing in time: what a user
sees (each message once, none lost silently) and what an operator finds (the outbox's record,
the logs), for every path that talks to Telegram. The Bot API is a real local HTTP server
(tests/fake_telegram.py), so aiogram's own session maps the answers and times out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError
from aiohttp.test_utils import TestClient
from loguru import logger
from redis.asyncio import Redis

from bot.errors import outage
from bot.factory import create_app
from bot.services.affiliates import AffiliateService
from bot.services.balance import Adjustment
from bot.services.broadcasts import Audience, Draft
from bot.services.charts import Chart, ChartError
from bot.services.outbox import BLOCKED as BLOCKED_REASON
from bot.services.outbox import MAX_ATTEMPTS, Letter, OutboxService
from bot.services.stats import Period
from bot.telegram.broadcasts import BroadcastReporter
from bot.telegram.race_news import RaceNews
from bot.telegram.sender import BACKOFF_FIRST, OutboxSender, Pacer
from keyboards.callbacks import MenuAction, MenuCallback, StatsCallback
from models import Affiliate, Outbox, Race
from scheduler.jobs import tick_races
from tests.factories import Factory, race_draft
from tests.fake_telegram import (
    BAD_GATEWAY,
    BLOCKED,
    LOST_ANSWER,
    NO_ANSWER,
    NOT_MODIFIED,
    OK,
    QUERY_TOO_OLD,
    SERVER_ERROR,
    Answer,
    FakeTelegram,
    bad_request,
    flood,
)
from tests.stack import ADMIN_ID, Stack, build_stack
from tests.telegram import TgClient


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


# --- handler replies, edits and callback answers -----------------------------------------


@pytest.fixture
def errors() -> Iterator[list[str]]:
    """What the process logged at ERROR and above (what pages an operator)."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR", format="{level} {message}")
    yield lines
    logger.remove(sink)


def over_http(stack: Stack, bot: Bot) -> TgClient:
    """Users whose updates the real dispatcher handles, its replies going to the stand-in."""
    return TgClient(stack.dp, bot, stack.session)


STATS = MenuCallback(action=MenuAction.STATS).pack()


async def test_a_button_pressed_twice_is_not_an_error_nor_a_second_message(
    stack: Stack, bot: Bot, telegram: FakeTelegram, errors: list[str]
) -> None:
    alice = over_http(stack, bot).user(300)
    await alice.send("/start")
    await alice.press(STATS)
    telegram.answer("editMessageText", NOT_MODIFIED)  # the same screen again

    await alice.press(STATS)

    assert len(telegram.calls_of("editMessageText", 300)) == 2
    assert len(telegram.calls_of("sendMessage", 300)) == 1  # the welcome only
    answers = telegram.calls_of("answerCallbackQuery")
    assert len(answers) == 2 and all("show_alert" not in a for a in answers)
    assert errors == []


async def test_a_button_answered_too_late_still_shows_its_screen_quietly(
    stack: Stack, bot: Bot, telegram: FakeTelegram, errors: list[str]
) -> None:
    alice = over_http(stack, bot).user(301)
    await alice.send("/start")
    telegram.answer("answerCallbackQuery", QUERY_TOO_OLD, QUERY_TOO_OLD)

    await alice.press(STATS)
    await alice.send("/menu")  # the dispatcher keeps serving

    assert len(telegram.seen("editMessageText", 301)) == 1  # the screen changed
    texts = [p["text"] for p in telegram.seen("sendMessage", 301)]
    assert len(texts) == 2 and not any("went wrong" in t for t in texts)
    assert errors == []


@pytest.mark.parametrize(
    "failure",
    [flood(3), BLOCKED, SERVER_ERROR, BAD_GATEWAY, NO_ANSWER],
    ids=["429", "403", "500", "502-html", "timeout"],
)
async def test_a_reply_telegram_fails_is_logged_and_the_dispatcher_goes_on(
    stack: Stack, bot: Bot, telegram: FakeTelegram, errors: list[str], failure: Answer
) -> None:
    alice = over_http(stack, bot).user(302)
    telegram.answer("sendMessage", failure)

    await alice.send("/start")  # raises nothing
    await alice.send("/menu")

    texts = [p["text"] for p in telegram.seen("sendMessage", 302)]
    assert len(texts) == 1 and "What would you like to do?" in texts[0]  # no apology
    assert errors == []


def test_a_telegram_timeout_is_not_taken_for_a_database_outage() -> None:
    try:
        try:
            raise TimeoutError
        except TimeoutError as cause:
            raise TelegramNetworkError(method=None, message="Request timeout error") from cause  # type: ignore[arg-type]
    except TelegramNetworkError as exc:
        timed_out = exc

    assert outage(timed_out) is None  # was "database": the update was run again, a duplicate
    assert outage(TimeoutError()) == "database"


# --- the webhook route ---------------------------------------------------------------------


@pytest.fixture
async def webhook(
    database: str,
    redis: Redis,
    bot: Bot,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> AsyncIterator[TestClient[Any, Any]]:
    stack = await build_stack(
        database, redis, WEBHOOK_URL="https://bot.example/webhook", WEBHOOK_SECRET="s3cret"
    )
    app = create_app(stack.settings, bot, stack.dp, redis, stack.services)
    yield await aiohttp_client(app)
    await stack.services.notifier.close()
    await stack.services.click_loader.close()
    await stack.services.conversions.close()


def start_update(update_id: int, user_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "text": "/start",
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Web"},
        },
    }


@pytest.mark.parametrize(
    "failure", [LOST_ANSWER, SERVER_ERROR, flood(5)], ids=["timeout", "500", "429"]
)
async def test_webhook_a_reply_telegram_fails_answers_200_so_nothing_is_sent_twice(
    webhook: TestClient[Any, Any], telegram: FakeTelegram, failure: Answer
) -> None:
    """A non-2xx answer makes Telegram deliver the update again, and a second run would send
    a second welcome (after a lost answer the first one did arrive)."""
    secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    telegram.answer("sendMessage", failure)

    first = await webhook.post("/webhook", json=start_update(7001, 310), headers=secret)
    again = await webhook.post("/webhook", json=start_update(7001, 310), headers=secret)
    other = await webhook.post("/webhook", json=start_update(7002, 311), headers=secret)

    assert (first.status, again.status, other.status) == (200, 200, 200)
    assert len(telegram.calls_of("sendMessage", 310)) == 1  # never run twice
    assert len(telegram.seen("sendMessage", 311)) == 1  # the next update is served


# --- race news: people through the outbox, the channel's leaderboard edited in place -------


async def tick_with(stack: Stack, bot: Bot) -> None:
    """One run of the race tick job, its channel posts and edits going to the stand-in."""
    news = RaceNews(bot, stack.services.i18n, stack.redis, stack.services.races, OutboxService())
    await tick_races(stack.services.races, news, stack.services.lease, stack.services.feed)


@pytest.mark.parametrize(
    "failure",
    [flood(30), SERVER_ERROR, BAD_GATEWAY, NO_ANSWER, NOT_MODIFIED],
    ids=["429", "500", "502-html", "timeout", "not-modified"],
)
async def test_a_channel_board_telegram_fails_holds_up_no_other_race(
    stack: Stack, bot: Bot, telegram: FakeTelegram, errors: list[str], failure: Answer
) -> None:
    races = stack.services.races
    first = await races.create(race_draft(title="First", announce_chat_id=-1001))
    second = await races.create(race_draft(title="Second", announce_chat_id=-1002))
    await tick_with(stack, bot)  # both boards posted and pinned
    telegram.answer("editMessageText", failure)  # the first board's edit fails

    await tick_with(stack, bot)  # raises nothing
    await tick_with(stack, bot)

    edits = {chat: len(telegram.calls_of("editMessageText", chat)) for chat in (-1001, -1002)}
    assert edits[-1002] == 2  # the second race's board went on being updated
    assert edits[-1001] == (1 if failure.retry_after else 2)  # a 429: it waits its turn
    assert len(telegram.calls_of("sendMessage", -1001)) == 1  # never posted anew
    assert (await Race.get(id=first.id)).announce_message_id is not None
    assert (await Race.get(id=second.id)).announce_message_id is not None
    assert errors == []


# --- broadcasts: each copy a row of the outbox; the author's live progress message ---------


async def test_a_broadcast_through_every_failure_reaches_each_person_once_and_counts_right(
    stack: Stack, bot: Bot, telegram: FakeTelegram, sender: OutboxSender, factory: Factory
) -> None:
    for tg in range(401, 407):
        await factory.affiliate(tg_id=tg, started_at=datetime.now(UTC))
    broadcast = await stack.services.broadcasts.start(
        ADMIN_ID, Draft("Big news", None, [], Audience.ALL)
    )
    telegram.answer(
        "sendMessage",
        flood(2),  # then the same copy again: sent
        OK,
        BLOCKED,
        bad_request("chat not found"),
        SERVER_ERROR,  # tried again after the backoff: sent
        OK,
        NO_ANSWER,  # tried again: sent
    )

    await sender.drain(60)

    progress = await stack.services.broadcasts.progress(broadcast)
    assert (progress.sent, progress.blocked, progress.failed, progress.left) == (4, 1, 1, 0)
    seen = [int(p["chat_id"]) for p in telegram.seen("sendMessage")]
    assert len(seen) == len(set(seen)) == 4  # nobody twice
    assert len(telegram.calls_of("sendMessage")) == 9  # 6 copies, a 429, a 500, a timeout
    failed = await Outbox.get(broadcast_id=broadcast.id, error__contains="chat not found")
    assert failed.attempts == 1


async def test_the_progress_message_survives_telegram_failing_its_edits(
    stack: Stack, bot: Bot, telegram: FakeTelegram, factory: Factory, errors: list[str]
) -> None:
    await factory.affiliate(tg_id=420, started_at=datetime.now(UTC))
    broadcasts = stack.services.broadcasts
    broadcast = await broadcasts.start(ADMIN_ID, Draft("Hi", None, [], Audience.ALL))
    await broadcasts.set_progress_message(broadcast, ADMIN_ID, 777)
    now = [0.0]
    reporter = BroadcastReporter(bot, stack.services.i18n, broadcasts, clock=lambda: now[0])
    telegram.answer("editMessageText", NOT_MODIFIED, flood(3), SERVER_ERROR, BAD_GATEWAY)

    for _ in range(5):
        await reporter.report()  # raises nothing
        now[0] += 3  # the job's period: the 429's 3 s are over by the next sweep

    assert len(telegram.calls_of("editMessageText", ADMIN_ID)) == 5
    assert len(telegram.seen("editMessageText", ADMIN_ID)) == 1  # the last one went through
    assert telegram.calls_of("sendMessage") == []  # edited, never posted anew
    assert errors == []


async def test_after_a_429_the_progress_message_waits_retry_after_and_still_shows_the_end(
    stack: Stack, bot: Bot, telegram: FakeTelegram, factory: Factory, errors: list[str]
) -> None:
    await factory.affiliate(tg_id=421, started_at=datetime.now(UTC))
    broadcasts = stack.services.broadcasts
    broadcast = await broadcasts.start(ADMIN_ID, Draft("Hi", None, [], Audience.ALL))
    await broadcasts.set_progress_message(broadcast, ADMIN_ID, 778)
    now = [0.0]
    reporter = BroadcastReporter(bot, stack.services.i18n, broadcasts, clock=lambda: now[0])
    telegram.answer("editMessageText", flood(30))

    await reporter.report()  # the 429: Telegram asks for 30 s of quiet
    for _ in range(9):  # the job's sweeps every 3 s within those 30 s ask nothing
        now[0] += 3
        await reporter.report()
    assert len(telegram.calls_of("editMessageText", ADMIN_ID)) == 1

    await stack.services.sender.drain(10)  # the broadcast is sent meanwhile: it ends
    await reporter.report()  # still quiet: it ends without its last edit
    assert len(telegram.calls_of("editMessageText", ADMIN_ID)) == 1
    assert await broadcasts.unfinished() == []
    now[0] += 3  # the 30 s are over: the ended broadcast's last state is shown once
    await reporter.report()
    await reporter.report()
    shown = telegram.seen("editMessageText", ADMIN_ID)
    assert len(shown) == 1
    assert "done" in shown[0]["text"]
    assert "Sent 1 · blocked 0 · failed 0 · left 0 of 1" in shown[0]["text"]
    assert errors == []


# --- the stats chart (a photo upload) and notices to one person -----------------------------


@pytest.mark.parametrize(
    "failure", [flood(3), SERVER_ERROR, NO_ANSWER, BLOCKED], ids=["429", "500", "timeout", "403"]
)
async def test_a_chart_photo_telegram_fails_is_no_error_and_the_next_press_sends_it(
    stack: Stack, bot: Bot, telegram: FakeTelegram, errors: list[str], failure: Answer
) -> None:
    alice = over_http(stack, bot).user(330)
    await alice.send("/start")
    chart = StatsCallback(period=Period.WEEK, chart=True).pack()
    telegram.answer("sendPhoto", failure)

    await alice.press(chart)
    await alice.press(chart)  # pressed again: a chart this time

    assert len(telegram.calls_of("sendPhoto", 330)) == 2
    assert len(telegram.seen("sendPhoto", 330)) == 1
    assert len(telegram.calls_of("answerCallbackQuery")) == 2  # the spinner stopped each time
    assert errors == []


async def test_a_chart_its_process_cannot_draw_gets_a_polite_word_and_the_next_press_a_chart(
    stack: Stack, bot: Bot, telegram: FakeTelegram, errors: list[str]
) -> None:
    alice = over_http(stack, bot).user(331)
    await alice.send("/start")
    chart = StatsCallback(period=Period.WEEK, chart=True).pack()
    charts = stack.services.stats.charts
    await charts.draw(Chart([], 2, ("t", "e", "c")))  # the chart process runs...
    assert charts._process is not None
    charts._process.kill()  # ...and dies between two charts: the next one starts it again
    await charts._process.wait()
    broken = charts.draw

    async def cannot(*args: object, **kwargs: object) -> bytes:
        raise ChartError("the chart process did not answer")

    charts.draw = cannot  # type: ignore[method-assign]
    await alice.press(chart)
    charts.draw = broken  # type: ignore[method-assign]
    await alice.press(chart)

    texts = [p["text"] for p in telegram.seen("sendMessage", 331)]
    assert "The chart cannot be drawn right now. Please try again in a minute." in texts
    assert len(telegram.seen("sendPhoto", 331)) == 1  # the second press: the chart
    assert len(telegram.calls_of("answerCallbackQuery")) == 2
    assert errors == []


async def test_a_payout_notice_through_a_5xx_and_a_timeout_arrives_once(
    stack: Stack, bot: Bot, telegram: FakeTelegram, time: FakeTime, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=340)
    outbox = OutboxService()
    pacer = Pacer(30, clock=time.clock, sleep=time.sleep)
    sender = OutboxSender(bot, outbox, AffiliateService(), pacer=pacer)
    telegram.answer("sendMessage", SERVER_ERROR, NO_ANSWER)
    notifier = stack.services.notifier
    notifier.outbox, notifier.sender = outbox, sender
    adjustment = Adjustment(
        entry_id=1,
        affiliate_id=alice.id,
        affiliate_tg_id=340,
        affiliate_name="Alice",
        affiliate_username=None,
        amount_minor=500,
        currency="USD",
        note="bonus",
        balance_minor=500,
    )

    queued = await notifier.adjusted(adjustment)
    await notifier.adjusted(adjustment)  # told again (a rerun): the same key, not queued
    await sender.drain(60)

    assert queued is True
    texts = [p["text"] for p in telegram.seen("sendMessage", 340)]
    assert len(texts) == 1 and "+$5.00" in texts[0]
    assert len(telegram.calls_of("sendMessage", 340)) == 3


# --- a short flood wait on a reply: waited out by the bot's session (bot.factory) ---------


@pytest.fixture
async def production_bot(stack: Stack, telegram: FakeTelegram) -> AsyncIterator[Bot]:
    """The bot as `python -m bot run` builds it (its session's middlewares included)."""
    from bot.factory import create_bot
    from tests.stack import make_settings

    made = create_bot(make_settings(stack.settings.DATABASE_URL, BOT_API_URL=telegram.url))
    yield made
    await made.session.close()


async def test_a_reply_after_a_short_flood_wait_arrives_late_not_never(
    stack: Stack, production_bot: Bot, telegram: FakeTelegram, errors: list[str]
) -> None:
    alice = over_http(stack, production_bot).user(350)
    telegram.answer("sendMessage", flood(1))

    await alice.send("/start")

    assert len(telegram.calls_of("sendMessage", 350)) == 2  # asked again after the wait
    assert len(telegram.seen("sendMessage", 350)) == 1
    assert errors == []


async def test_a_long_flood_wait_is_not_waited_out_by_a_reply(
    stack: Stack, production_bot: Bot, telegram: FakeTelegram, errors: list[str]
) -> None:
    alice = over_http(stack, production_bot).user(351)
    telegram.answer("sendMessage", flood(30))

    await asyncio.wait_for(alice.send("/start"), 5)  # the handler is not held for 30 s

    assert len(telegram.calls_of("sendMessage", 351)) == 1
    assert telegram.seen("sendMessage", 351) == []
    assert errors == []
