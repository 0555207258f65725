"""One process or several: what each role serves (`ROLE` / `run --role`), and the parts of a
graceful stop that let running work end (scheduler jobs, polled updates) within a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiogram import Bot
from aiogram.types import Message, Update
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.factory import create_app
from bot.lease import Lease
from bot.live import Bell
from bot.services.affiliates import AffiliateService
from bot.services.outbox import Letter, OutboxService
from bot.telegram.dispatcher import RetryingDispatcher
from bot.telegram.sender import OutboxSender
from scheduler import Scheduler
from tests.factories import Factory
from tests.mocked_bot import MockedSession
from tests.stack import TOKEN, Stack, build_stack

Client = TestClient[Any, Any]
SECRET = "s3cret"


async def serve_role(
    database: str,
    redis: Redis,
    role: str,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> Client:
    stack = await build_stack(
        database,
        redis,
        ROLE=role,
        REDIS_URL="redis://given-to-the-test-stack/0",
        WEBHOOK_URL="https://bot.example/webhook",
        WEBHOOK_SECRET=SECRET,
    )
    app = create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    return await aiohttp_client(app)


async def status_of(http: Client, method: str, path: str) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.request(method, path, headers=headers, allow_redirects=False) as resp:
        return resp.status


@pytest.mark.parametrize(
    ("role", "public", "webhook"),
    [
        ("all", True, True),
        ("web", True, False),
        ("bot", False, True),
        ("scheduler", False, False),
        ("bot,web", True, True),
    ],
)
async def test_each_role_serves_its_own_routes_and_every_one_reports_health(
    database: str,
    redis: Redis,
    factory: Factory,
    aiohttp_client: Callable[..., Awaitable[Client]],
    role: str,
    public: bool,
    webhook: bool,
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())
    http = await serve_role(database, redis, role, aiohttp_client)

    assert await status_of(http, "GET", "/health") == 200
    assert await status_of(http, "GET", "/ready") == 200
    assert await status_of(http, "GET", "/metrics") == 200
    redirect = await status_of(http, "GET", f"/r/{link.code}")
    postback = await status_of(http, "GET", "/postback/1")
    api = await status_of(http, "GET", "/api/me")
    app_page = await status_of(http, "GET", "/app")
    update = await status_of(http, "POST", "/webhook")

    assert (redirect == 302) is public and (redirect == 404) is not public
    assert (postback == 404) is not public
    assert (api == 404) is not public  # the Mini App's API: 401 without initData when served
    assert (app_page == 404) is not public
    assert (update == 404) is not webhook  # 400 for an empty body where it is served


async def test_a_stopping_scheduler_starts_no_job_and_lets_a_running_one_end() -> None:
    scheduler = Scheduler(timezone="UTC")
    ran: list[str] = []
    release, started = asyncio.Event(), asyncio.Event()

    async def drain() -> None:  # an outbox drain between Telegram's answer and its record
        started.set()
        ran.append("started")
        await release.wait()
        ran.append("recorded")

    scheduler.add_job(scheduler.tracked(drain), "interval", seconds=0.05, id="drain")
    scheduler.start()
    await asyncio.wait_for(started.wait(), 3)
    asyncio.get_running_loop().call_later(0.3, release.set)

    late = await asyncio.wait_for(scheduler.finish(5), 3)

    assert late == 0 and ran == ["started", "recorded"]  # ended, not cancelled, none after
    assert not scheduler.running


async def test_a_job_that_outlasts_the_bound_is_cancelled_and_counted() -> None:
    scheduler = Scheduler(timezone="UTC")
    cancelled, began = asyncio.Event(), asyncio.Event()

    async def stuck() -> None:
        began.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    scheduler.add_job(scheduler.tracked(stuck), "interval", seconds=0.05, id="stuck")
    scheduler.start()
    await asyncio.wait_for(began.wait(), 3)

    started = asyncio.get_running_loop().time()
    late = await scheduler.finish(0.2)
    await asyncio.wait_for(cancelled.wait(), 2)

    assert late == 1
    assert asyncio.get_running_loop().time() - started < 1


def a_message(update_id: int) -> Update:
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": 7, "type": "private"},
                "from": {"id": 7, "is_bot": False, "first_name": "U"},
                "text": "hello",
            },
        }
    )


def slow_dispatcher(seconds: float, handled: list[int]) -> RetryingDispatcher:
    dp = RetryingDispatcher()

    @dp.message()
    async def slow(message: Message) -> None:
        await asyncio.sleep(seconds)
        handled.append(message.message_id)

    return dp


async def test_a_stop_lets_the_updates_being_handled_end() -> None:
    handled: list[int] = []
    dp = slow_dispatcher(0.3, handled)
    bot = Bot(TOKEN, session=MockedSession())
    running = [asyncio.create_task(dp.feed_update(bot, a_message(n))) for n in (1, 2)]
    await asyncio.sleep(0.05)  # as polling hands each update to a task and moves on

    late = await asyncio.wait_for(dp.finish_in_flight(5), 3)

    assert late == 0 and sorted(handled) == [1, 2] and not dp.in_flight
    await asyncio.gather(*running)


async def test_an_update_that_outlasts_the_bound_is_cancelled_and_counted() -> None:
    handled: list[int] = []
    dp = slow_dispatcher(60, handled)
    bot = Bot(TOKEN, session=MockedSession())
    running = asyncio.create_task(dp.feed_update(bot, a_message(1)))
    await asyncio.sleep(0.05)

    late = await asyncio.wait_for(dp.finish_in_flight(0.2), 3)

    assert late == 1 and handled == []
    with pytest.raises(asyncio.CancelledError):
        await running


async def test_what_a_process_that_does_not_send_queues_goes_out_at_once_from_the_leader(
    stack: Stack,
) -> None:
    """A web or bot process (or a candidate that does not lead) queues a notice; the process
    leading the scheduler hears the bell and sends it now, not at its next drain."""
    channel = f"{stack.settings.CHANNEL_PREFIX}:outbox"
    lease = Lease(stack.redis, ttl=30)
    assert await lease.hold()
    leader = OutboxSender(stack.bot, OutboxService(), AffiliateService())
    leader.start(lease)
    leader.bell = Bell(stack.redis, channel)
    leader.bell.start(leader.wake_here)
    elsewhere = OutboxSender(stack.bot, OutboxService(), AffiliateService())
    elsewhere.bell = Bell(stack.redis, channel)  # never started: it only rings
    await asyncio.wait_for(leader.bell.subscribed.wait(), 5)
    try:
        await OutboxService().enqueue([Letter("note:1", 4242, "Payout approved", bulk=False)])
        elsewhere.wake()

        for _ in range(100):  # 2 s; the scheduled drain would take up to 5 s
            if stack.session.texts_to(4242):
                break
            await asyncio.sleep(0.02)
        assert stack.session.texts_to(4242) == ["Payout approved"]
    finally:
        await elsewhere.close()
        await leader.close()
