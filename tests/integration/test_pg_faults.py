"""PostgreSQL going away under a running bot, through a real TCP proxy to the real server:
polling updates wait it out, the sender is told when it lasts too long, a channel join is
kept until it can be counted, postbacks and webhooks answer 503 in bounded time, and all of
it recovers without a restart. (Collected only when TEST_DATABASE_URL names a PostgreSQL.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiogram.methods import SendMessage
from aiohttp.test_utils import TestClient
from loguru import logger
from redis.asyncio import Redis

from bot import db
from bot.asyncpg_client import PROBE_SECONDS
from bot.factory import create_app
from bot.services.postbacks import sign
from models import Affiliate, Conversion, Referral
from tests.e2e.test_money import CHANNEL, channel_offer
from tests.factories import Factory, make_click
from tests.netfault import Proxy
from tests.stack import Stack, build_stack
from tests.telegram import member_update

Client = TestClient[Any, Any]
FAST = db.Timeouts(connect=0.5, statement=1.0, acquire=0.5)
pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


@pytest.fixture
async def proxy(database: str) -> AsyncIterator[Proxy]:
    """The app's database connections go through this proxy from here on."""
    target = urlsplit(database)
    relay = await Proxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    await db.close()
    await db.init(
        database.replace(target.netloc.split("@")[-1], f"127.0.0.1:{relay.port}"), timeouts=FAST
    )
    try:
        yield relay
    finally:
        relay.restore()
        await db.close()
        await relay.close()
        await db.init(database)


@pytest.fixture
async def polling(database: str, redis: Redis, tmp_path: Path) -> AsyncIterator[Stack]:
    """A stack whose dispatcher retries updates as in polling mode, with short pauses."""
    stack = await build_stack(database, redis, UPDATE_RETRY_SECONDS=20, DATA_DIR=str(tmp_path))
    stack.dp.first_pause = 0.1
    stack.dp.longest_pause = 0.5
    try:
        yield stack
    finally:
        await stack.services.notifier.close()
        await stack.services.click_loader.close()
        await stack.services.conversions.close()


async def back(proxy: Proxy) -> None:
    """The database answers again; the app notices within its probe time."""
    proxy.restore()
    await asyncio.sleep(PROBE_SECONDS + 0.1)


def sent_texts(stack: Stack, chat_id: int) -> list[str]:
    return [
        r.text
        for r in stack.session.requests
        if isinstance(r, SendMessage) and r.chat_id == chat_id
    ]


async def test_polling_update_during_an_outage_is_handled_once_the_database_is_back(
    proxy: Proxy, polling: Stack, factory: Factory
) -> None:
    referrer = await factory.affiliate(tg_id=1, name="Rita")
    link = await factory.link(referrer)
    proxy.cut()

    handling = asyncio.create_task(
        polling.tg.user(2, first_name="Nina").send(f"/start {link.code}")
    )
    await asyncio.sleep(1.5)
    assert not handling.done()  # waiting, not failed
    proxy.restore()
    reply = await asyncio.wait_for(handling, 20)

    assert "Welcome, Nina" in reply.text
    nina = await Affiliate.get(tg_id=2)
    assert await Referral.filter(referrer_id=referrer.id, referred_id=nina.id).count() == 1


@pytest.mark.parametrize("frozen", [False, True], ids=["cut", "frozen"])
async def test_polling_update_that_outlasts_the_retries_asks_the_sender_to_try_again(
    proxy: Proxy, polling: Stack, factory: Factory, frozen: bool
) -> None:
    referrer = await factory.affiliate(tg_id=1)
    link = await factory.link(referrer)
    polling.dp.retry_for = 2.0
    proxy.freeze() if frozen else proxy.cut()

    started = time.monotonic()
    reply = await polling.tg.user(2, language_code="ru").send(f"/start {link.code}")
    waited = time.monotonic() - started
    await back(proxy)
    again = await polling.tg.user(2, language_code="ru", first_name="Nina").send(
        f"/start {link.code}"
    )

    assert reply.text == "Извините, сейчас это не получается. Попробуйте ещё раз через минуту."
    assert waited < 8  # the retry window (2 s) plus one bounded attempt
    assert "Nina" in again.text  # the next try works: a new user, first touch
    assert await Referral.all().count() == 1


async def test_a_channel_join_during_a_long_outage_is_kept_and_counted_later(
    proxy: Proxy, polling: Stack, factory: Factory
) -> None:
    await channel_offer(factory)
    rita = polling.tg.user(10)
    await rita.send("/start")
    links = await rita.press("m:links")
    invite = next(line for line in links.text.splitlines() if "t.me/+inv" in line)
    invite = invite.removeprefix("<code>").removesuffix("</code>")
    polling.dp.retry_for = 1.0
    proxy.cut()

    await polling.tg.feed(member_update(CHANNEL, 77, "left", "member", invite))
    kept_while_down = await polling.dp.replay_parked(polling.bot)
    await back(proxy)
    handled = await polling.dp.replay_parked(polling.bot)

    assert kept_while_down == 0
    assert handled == 1
    assert await Conversion.all().values_list("event", flat=True) == ["join"]
    assert polling.dp.parked is not None and polling.dp.parked.load() == []


async def test_postbacks_answer_503_during_an_outage_and_store_again_after_it(
    stack: Stack, proxy: Proxy, factory: Factory, aiohttp_client: Any
) -> None:
    http: Client = await aiohttp_client(
        create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    )
    offer = await factory.offer()
    click = await make_click(await factory.link(await factory.affiliate(), offer))

    def params(txid: str) -> dict[str, str]:
        p = {
            "click_id": click.click_id,
            "event": "sale",
            "txid": txid,
            "ts": str(int(time.time())),
        }
        return {**p, "sig": sign(p, "s3cret")}

    timings: dict[str, float] = {}
    answers: dict[str, int] = {}
    for phase, fault in (("cut", proxy.cut), ("frozen", proxy.freeze)):
        fault()
        started = time.monotonic()
        resp = await http.get(f"/postback/{offer.id}", params=params(phase))
        timings[phase] = time.monotonic() - started
        answers[phase] = resp.status
        assert resp.headers.get("Retry-After")
        assert "database" in (await resp.json())["reason"]
        await back(proxy)
    after = await http.get(f"/postback/{offer.id}", params=params("after"))
    logger.info("postback outage answers {} in {}", answers, timings)

    assert answers == {"cut": 503, "frozen": 503}
    assert max(timings.values()) < 5
    assert after.status == 200 and (await after.json())["result"] == "stored"
    assert await Conversion.all().values_list("txid", flat=True) == ["after"]


async def test_webhook_update_during_an_outage_is_a_503_for_telegram_to_resend(
    database: str, redis: Redis, proxy: Proxy, aiohttp_client: Any
) -> None:
    stack = await build_stack(
        database, redis, WEBHOOK_URL="https://bot.example/webhook", WEBHOOK_SECRET="s3cret"
    )
    http: Client = await aiohttp_client(
        create_app(stack.settings, stack.bot, stack.dp, redis, stack.services)
    )
    update = {
        "update_id": 5,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "text": "/start",
            "chat": {"id": 9, "type": "private"},
            "from": {"id": 9, "is_bot": False, "first_name": "Web"},
        },
    }
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    proxy.cut()

    down = await http.post("/webhook", json=update, headers=headers)
    await back(proxy)
    resent = await http.post("/webhook", json=update, headers=headers)

    assert down.status == 503 and "database" in (await down.json())["error"]
    assert resent.status == 200
    assert sent_texts(stack, 9) and "Welcome" in sent_texts(stack, 9)[-1]
    await stack.services.click_loader.close()
    await stack.services.conversions.close()
