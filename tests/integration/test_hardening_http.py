"""The HTTP edge under attack: no input poisons a batch or counts twice, every request gets a
proper answer (never a bare 500), and a dependency that is down or hung bounds the wait."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import fakeredis
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot import db
from bot.factory import create_app
from bot.redis import create_redis
from bot.services.click_store import PendingClick, encode, unique_key
from bot.services.conversion_writer import NewConversion, PendingConversion
from bot.services.postbacks import sign
from models import Click, Conversion, ConversionStatus, LedgerEntry, Link, Offer
from tests.factories import Factory, make_click
from tests.netfault import Blackhole
from tests.stack import Stack, build_stack

Client = TestClient[Any, Any]
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
FAST = db.Timeouts(connect=0.5, statement=0.5, acquire=0.5)


@pytest.fixture
async def http(stack: Stack, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    app = create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    return await aiohttp_client(app)


@pytest.fixture
async def setup(factory: Factory) -> tuple[Offer, Link, str]:
    offer = await factory.offer()
    link = await factory.link(await factory.affiliate(), offer)
    click = await make_click(link)
    return offer, link, click.click_id


def signed(secret: str = "s3cret", **params: str) -> dict[str, str]:
    params.setdefault("ts", str(int(time.time())))
    params["sig"] = sign(params, secret)
    return params


def deposit(click_id: str, txid: str, **extra: str) -> dict[str, str]:
    return {
        "click_id": click_id,
        "event": "deposit",
        "amount": "10.00",
        "currency": "USD",
        "status": "approved",
        "txid": txid,
        **extra,
    }


async def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Bytes on the wire, for what an HTTP client library refuses to send."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split(b" ")[1]), rest.partition(b"\r\n\r\n")[2]


# -- batches --------------------------------------------------------------------------------


async def test_postback_with_an_over_long_value_is_a_400_and_its_batch_neighbours_are_stored(
    http: Client, setup: tuple[Offer, Link, str]
) -> None:
    offer, _link, click_id = setup
    valid = [signed(**deposit(click_id, f"ok-{i}")) for i in range(60)]
    poisoned = [
        signed(**deposit(click_id, "T" * 128 + "\n")),
        signed(**deposit(click_id, "e-1", event="e" * 32 + "\n")),
    ]

    answers = await asyncio.gather(
        *(
            http.get(f"/postback/{offer.id}", params=p)
            for p in [*valid[:30], *poisoned, *valid[30:]]
        )
    )

    bodies = [await a.json() for a in answers]
    statuses = [a.status for a in answers]
    assert statuses[30:32] == [400, 400]
    assert "txid" in bodies[30]["reason"] and "event" in bodies[31]["reason"]
    assert statuses[:30] + statuses[32:] == [200] * 60
    assert await Conversion.all().count() == 60
    assert await LedgerEntry.all().count() == 60


async def test_group_commit_stores_every_valid_conversion_beside_one_that_cannot_be_stored(
    stack: Stack, setup: tuple[Offer, Link, str]
) -> None:
    offer, link, _click = setup
    writer = stack.services.conversions.writer

    def conversion(txid: str, amount_minor: int = 1000) -> PendingConversion:
        now = datetime.now(UTC)
        row = NewConversion(
            offer_id=offer.id,
            affiliate_id=link.affiliate_id,
            link_id=link.id,
            click_id=None,
            sub=None,
            txid=txid,
            event="sale",
            amount_minor=amount_minor,
            currency="USD",
            commission_minor=250,
            status=ConversionStatus.APPROVED,
            review=False,
            review_reason=None,
            created_at=now,
            decided_at=now,
        )
        return PendingConversion(row, offer)

    items = [conversion(f"v{i}") for i in range(20)]
    items.insert(7, conversion("poison", amount_minor=2**70))  # no BIGINT holds it

    results = await asyncio.gather(*(writer.submit(i) for i in items), return_exceptions=True)

    assert isinstance(results[7], Exception)
    assert results[:7] + results[8:] == [True] * 20
    assert sorted(await Conversion.all().values_list("txid", flat=True)) == sorted(
        f"v{i}" for i in range(20)
    )
    assert await LedgerEntry.all().count() == 20


async def test_click_loader_stores_every_valid_click_beside_one_that_cannot_be_stored(
    stack: Stack, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())
    clicks = stack.services.clicks

    def click(n: int, link_id: int) -> PendingClick:
        now = datetime.now(UTC)
        visitor = clicks.visitor_id(f"10.0.0.{n}", "Firefox")
        return PendingClick(
            click_id=f"{n:032x}",
            link_id=link_id,
            sub=None,
            visitor=visitor,
            is_bot=False,
            user_agent="Firefox",
            created_at=now,
            unique_key=unique_key(link_id, None, visitor, now),
            affiliate_id=link.affiliate_id,
            offer_id=link.offer_id,
        )

    items = [click(n, link.id) for n in range(1, 31)]
    items.insert(12, click(99, 2**40))  # a link id no INTEGER column holds
    for item in items:
        clicks.spool.append(encode(item))

    await stack.load_clicks()

    assert stack.services.click_loader.backlog().rejected == 1
    assert stack.services.click_loader.backlog().clicks == 0  # the one refused is not retried
    assert await Click.filter(link_id=link.id, is_unique=True).count() == 30


# -- strict parameters ----------------------------------------------------------------------


async def test_txid_with_a_trailing_newline_is_not_a_second_transaction(
    http: Client, setup: tuple[Offer, Link, str]
) -> None:
    offer, _link, click_id = setup

    first = await http.get(f"/postback/{offer.id}", params=signed(**deposit(click_id, "SAME-1")))
    second = await http.get(
        f"/postback/{offer.id}", params=signed(**deposit(click_id, "SAME-1\n"))
    )
    event = await http.get(
        f"/postback/{offer.id}", params=signed(**deposit(click_id, "SAME-2", event="deposit\n"))
    )

    assert (first.status, second.status, event.status) == (200, 400, 400)
    assert "txid" in (await second.json())["reason"]
    assert "event" in (await event.json())["reason"]
    assert await Conversion.all().count() == 1
    assert await LedgerEntry.all().count() == 1


@pytest.mark.parametrize(
    ("path", "extra", "status", "reason_part"),
    [
        ("/postback/١", {}, 404, "unknown offer"),
        ("/postback/²", {}, 404, "unknown offer"),
        ("/postback/{offer}", {"ts": "²"}, 401, "ts"),
        ("/postback/{offer}", {"tg_user_id": "²"}, 400, "tg_user_id"),
        ("/postback/{offer}", {"tg_user_id": "9" * 20}, 400, "tg_user_id"),
        ("/postback/{offer}", {"amount": "١٠.00"}, 400, "amount"),
    ],
)
async def test_digits_of_another_script_or_past_64_bits_are_refused_with_a_reason(
    http: Client,
    setup: tuple[Offer, Link, str],
    path: str,
    extra: dict[str, str],
    status: int,
    reason_part: str,
) -> None:
    offer, _link, click_id = setup
    params = deposit(click_id, "u-1", **{k: v for k, v in extra.items() if k != "ts"})
    if "ts" in extra:
        params["ts"] = extra["ts"]

    resp = await http.get(path.format(offer=offer.id), params=signed(**params))

    assert resp.status == status
    assert reason_part in (await resp.json())["reason"]
    assert await Conversion.all().count() == 0


async def test_racing_approve_and_reject_each_answer_the_status_they_found(
    http: Client, setup: tuple[Offer, Link, str]
) -> None:
    offer, _link, click_id = setup
    await http.get(
        f"/postback/{offer.id}", params=signed(**deposit(click_id, "R", status="pending"))
    )
    wanted = ["approved", "rejected"] * 40

    answers = await asyncio.gather(
        *(
            http.get(f"/postback/{offer.id}", params=signed(**deposit(click_id, "R", status=w)))
            for w in wanted
        )
    )

    final = (await Conversion.get(txid="R")).status.value
    for want, answer in zip(wanted, answers, strict=True):
        body = await answer.json()
        if body["result"] in ("stored", "duplicate"):
            assert (answer.status, body["status"]) == (200, want)  # it happened, as asked
        else:
            assert (answer.status, body["status"]) == (409, final)  # the loser hears why
    assert [(await a.json())["result"] for a in answers].count("stored") == 1
    expected = 1 if final == "approved" else 0
    assert await LedgerEntry.all().count() == expected


# -- every request gets a proper answer -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "content_type"),
    [
        ("nested JSON", b"[" * 100_000 + b"]" * 100_000, "application/json"),
        ("nested JSON object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
        ("lone surrogate", b'{"txid": "\\ud800", "token": "tok-en"}', "application/json"),
        ("unknown charset", b'{"a": 1}', "application/json; charset=no-such-charset"),
        ("bad UTF-8", b'{"a": "\xff\xfe"}', "application/json"),
        ("broken multipart", b"--x\r\nnot a part", "multipart/form-data; boundary=x"),
        ("multipart without boundary", b"a=1", "multipart/form-data"),
        ("form in unknown charset", b"a=1", "application/x-www-form-urlencoded; charset=nope"),
        ("non-UTF-8 form", b"txid=\xff\xfe&token=tok-en", "application/x-www-form-urlencoded"),
    ],
)
async def test_postback_body_that_cannot_be_read_is_a_400_json(
    http: Client, setup: tuple[Offer, Link, str], name: str, body: bytes, content_type: str
) -> None:
    offer, _link, _click = setup

    resp = await http.post(
        f"/postback/{offer.id}", data=body, headers={"Content-Type": content_type}
    )

    assert resp.status in (400, 401), name
    answer = await resp.json()
    assert answer["result"] == "rejected" and answer["reason"]
    assert await Conversion.all().count() == 0


@pytest.mark.parametrize(
    "auth",
    [
        {"sig": "é" * 64, "ts": "{now}"},
        {"token": "tök-en"},
        {"sig": "ab" * 32 + "\n", "ts": "{now}"},
    ],
)
async def test_postback_with_a_non_ascii_signature_or_token_is_a_401(
    http: Client, setup: tuple[Offer, Link, str], auth: dict[str, str]
) -> None:
    offer, _link, click_id = setup
    params = {**deposit(click_id, "n-1"), **auth}
    params = {k: v.replace("{now}", str(int(time.time()))) for k, v in params.items()}

    resp = await http.get(f"/postback/{offer.id}", params=params)

    assert resp.status == 401
    assert (await resp.json())["result"] == "rejected"


async def test_head_on_a_link_answers_the_redirect_without_counting(
    http: Client, stack: Stack, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())

    head = await http.head(f"/r/{link.code}", headers=BROWSER, allow_redirects=False)
    unknown = await http.head("/r/zzzzzzzz", allow_redirects=False)
    get = await http.get(f"/r/{link.code}", headers=BROWSER, allow_redirects=False)
    await stack.load_clicks()

    assert head.status == 302 and head.headers["Location"].startswith("https://adv.example/")
    assert unknown.status == 404
    assert get.status == 302
    assert await Click.all().count() == 1


async def test_a_browser_sending_undecodable_header_bytes_is_redirected_and_counted(
    http: Client, stack: Stack, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())
    assert http.server.port is not None

    status, _ = await raw_request(
        http.server.port,
        b"GET /r/%s HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 \xff\xfez\r\n"
        % link.code.encode(),
    )
    await stack.load_clicks()

    assert status == 302
    click = await Click.get(link_id=link.id)
    assert click.user_agent == "Mozilla/5.0 \ufffd\ufffdz"


@pytest.fixture
async def webhook(database: str, redis: Redis, aiohttp_client: Any) -> tuple[Client, Stack]:
    stack = await build_stack(
        database, redis, WEBHOOK_URL="https://bot.example/webhook", WEBHOOK_SECRET="s3cret"
    )
    app = create_app(stack.settings, stack.bot, stack.dp, redis, stack.services)
    return await aiohttp_client(app), stack


async def test_webhook_secret_header_with_non_utf8_bytes_is_a_401(
    webhook: tuple[Client, Stack],
) -> None:
    http, stack = webhook
    assert http.server.port is not None

    status, body = await raw_request(
        http.server.port,
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Telegram-Bot-Api-Secret-Token: s3cr\xff\xfet\r\n",
        b"{}",
    )

    assert status == 401
    assert json.loads(body)["ok"] is False
    assert stack.session.requests == []


async def test_webhook_deeply_nested_json_with_the_right_secret_is_a_400(
    webhook: tuple[Client, Stack],
) -> None:
    http, _stack = webhook

    resp = await http.post(
        "/webhook",
        data=b"[" * 100_000 + b"]" * 100_000,
        headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret", "Content-Type": "application/json"},
    )

    assert resp.status == 400
    assert (await resp.json())["ok"] is False


# -- dependencies that are down or hung -----------------------------------------------------


@contextlib.asynccontextmanager
async def hung_database(database: str) -> AsyncIterator[str]:
    """The database swapped, mid-test, for a server that accepts and never answers."""
    hole = await Blackhole().start()
    await db.close()
    url = f"postgres://postgres@127.0.0.1:{hole.port}/affrace"
    await db.init(url, timeouts=FAST)
    try:
        yield url
    finally:
        await db.close()
        await hole.close()
        await db.init(database)  # for the database fixture's own clean-up


async def test_postback_while_the_database_hangs_is_a_bounded_503_with_retry_after(
    http: Client, setup: tuple[Offer, Link, str], database: str
) -> None:
    offer, _link, click_id = setup

    async with hung_database(database):
        started = time.monotonic()
        resp = await http.get(f"/postback/{offer.id}", params=signed(**deposit(click_id, "h-1")))
        waited = time.monotonic() - started

    assert resp.status == 503
    assert resp.headers["Retry-After"]
    body = await resp.json()
    assert body["result"] == "rejected" and "database" in body["reason"]
    assert waited < 5  # bounded by the timeouts (0.5 s each), not by the outage


async def test_redirect_while_the_database_hangs_still_sends_known_links_on(
    http: Client, stack: Stack, factory: Factory, database: str
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())
    other = await factory.link(await factory.affiliate(), await factory.offer())
    assert (await http.get(f"/r/{link.code}", allow_redirects=False)).status == 302  # now known

    async with hung_database(database):
        started = time.monotonic()
        known = await http.get(f"/r/{link.code}", headers=BROWSER, allow_redirects=False)
        known_waited = time.monotonic() - started
        unknown = await http.get(f"/r/{other.code}", headers=BROWSER, allow_redirects=False)
        waited = time.monotonic() - started

    assert known.status == 302 and known.headers["Location"].startswith("https://adv.example/")
    assert known_waited < 0.5  # the click went to the spool: the database was not waited for
    assert unknown.status == 503 and unknown.headers["Retry-After"]
    assert "Back in a moment" in await unknown.text()
    assert waited < 10
    await stack.load_clicks()  # the database is back
    assert await Click.filter(link_id=link.id).count() == 2  # the click made during the hang too
    assert stack.services.clicks.lost == 0


@pytest.mark.parametrize("fault", ["down", "hung"])
async def test_redirects_go_on_without_redis_and_uniqueness_comes_from_the_database(
    database: str, factory: Factory, aiohttp_client: Any, fault: str
) -> None:
    hole = await Blackhole().start()
    port = 1 if fault == "down" else hole.port
    redis = create_redis(f"redis://127.0.0.1:{port}/0", connect_timeout=0.3, timeout=0.3)
    stack = await build_stack(database, redis)
    http = await aiohttp_client(
        create_app(stack.settings, stack.bot, stack.dp, redis, stack.services)
    )
    link = await factory.link(await factory.affiliate(), await factory.offer())

    started = time.monotonic()
    answers = [
        await http.get(f"/r/{link.code}", headers=headers, allow_redirects=False)
        for headers in (BROWSER, BROWSER, {"User-Agent": "Safari/604"})
    ]
    waited = time.monotonic() - started
    await stack.load_clicks()

    assert [a.status for a in answers] == [302, 302, 302]
    rows = await Click.filter(link_id=link.id).order_by("id").values_list("is_unique", flat=True)
    assert rows == [True, False, True]
    assert waited < 5
    await stack.services.click_loader.close()
    await redis.aclose()
    await hole.close()


async def test_redis_frozen_mid_command_answers_within_its_timeout(database: str) -> None:
    hole = await Blackhole().start()
    redis = create_redis(f"redis://127.0.0.1:{hole.port}/0", connect_timeout=0.3, timeout=0.3)

    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        await redis.get("x")
    waited = time.monotonic() - started

    assert type(caught.value).__module__.startswith("redis")
    assert waited < 2  # connect 0.3 s, once more at once: never the client's 20 s of retries
    await redis.aclose()
    await hole.close()


async def test_fakeredis_stand_in_still_serves_the_single_process() -> None:
    redis = create_redis(None)

    await redis.set("k", "v")

    assert await redis.get("k") == b"v"
    assert isinstance(redis, fakeredis.FakeAsyncRedis)
