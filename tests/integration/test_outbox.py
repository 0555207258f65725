"""The paced sender (on a fake clock), RetryAfter and blocked users, and the scheduler lease."""

from __future__ import annotations

from collections import Counter

import fakeredis
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import SendMessage

from bot.lease import Lease
from bot.services.affiliates import AffiliateService
from bot.services.outbox import Letter, OutboxService
from bot.telegram.sender import OutboxSender, Pacer
from models import Affiliate, Outbox
from tests.stack import Stack


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)


def sender_for(stack: Stack, time: FakeTime) -> OutboxSender:
    pacer = Pacer(30, clock=time.clock, sleep=time.sleep)
    return OutboxSender(stack.bot, OutboxService(), AffiliateService(), pacer=pacer)


def sends(stack: Stack) -> list[SendMessage]:
    return [r for r in stack.session.requests if isinstance(r, SendMessage)]


async def test_pacing_never_exceeds_30_a_second_or_1_a_second_per_chat(stack: Stack) -> None:
    time = FakeTime()
    stamps: list[tuple[float, int]] = []
    real = stack.session.make_request

    async def stamped(bot, method, timeout=None):  # type: ignore[no-untyped-def]
        stamps.append((time.now, int(method.chat_id)))
        return await real(bot, method, timeout)

    stack.session.make_request = stamped  # type: ignore[method-assign]
    letters = [Letter(f"k{i}", 100 + i % 50, f"hello {i}") for i in range(120)]
    letters += [Letter(f"same{i}", 7, f"again {i}") for i in range(5)]
    await OutboxService().enqueue(letters)

    sent = await sender_for(stack, time).drain(seconds=60)

    assert sent == 125
    for start, _ in stamps:
        window = [s for s in stamps if start <= s[0] < start + 1.0]
        assert len(window) <= 30
        assert max(Counter(chat for _, chat in window).values()) == 1
    assert await Outbox.filter(sent_at__isnull=True).count() == 0


async def test_queueing_the_same_key_twice_sends_once(stack: Stack) -> None:
    time = FakeTime()
    await OutboxService().enqueue([Letter("x", 5, "one")])
    await OutboxService().enqueue([Letter("x", 5, "one"), Letter("x", 5, "dup")])

    await sender_for(stack, time).drain(seconds=5)

    assert [m.text for m in sends(stack)] == ["one"]


async def test_retry_after_is_honoured_and_blocked_users_are_marked(stack: Stack) -> None:
    time = FakeTime()
    blocked = await Affiliate.create(tg_id=66, first_name="B")
    await OutboxService().enqueue([Letter("a", 55, "first"), Letter("b", 66, "second")])
    stack.session.queue(TelegramRetryAfter(SendMessage(chat_id=55, text="x"), "flood", 7))
    stack.session.queue(True)  # the retry of "first" goes through (any result will do)
    stack.session.queue(TelegramForbiddenError(SendMessage(chat_id=66, text="x"), "blocked"))
    before = time.now

    delivered = await sender_for(stack, time).drain(seconds=30)

    assert delivered == 1
    assert time.now - before >= 7
    rows = dict(await Outbox.all().values_list("key", "error"))
    assert rows == {"a": None, "b": "blocked by the user"}
    await blocked.refresh_from_db()
    assert blocked.blocked_at is not None


async def test_only_one_process_holds_the_scheduler_lease() -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    first, second = Lease(redis, ttl=30), Lease(redis, ttl=30)

    assert await first.hold() is True
    assert await second.hold() is False
    assert await first.hold() is True  # renewed
    await first.release()
    assert await second.hold() is True
    await redis.aclose()
