import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from bot.factory import create_app
from bot.services.offers import OfferPatch
from models import Click, OfferKind
from tests.factories import Factory
from tests.stack import Stack, build_stack

Client = TestClient[Any, Any]
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}


@pytest.fixture
async def http(stack: Stack, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    app = create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    return await aiohttp_client(app)


async def test_redirect_spools_the_click_then_the_loader_stores_it_once(
    http: Client, stack: Stack, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())

    resp = await http.get(f"/r/{link.code}", headers=BROWSER, allow_redirects=False)

    assert resp.status == 302
    target = urlsplit(resp.headers["Location"])
    assert target.netloc == "adv.example"
    cid = parse_qs(target.query)["cid"][0]
    spooled = b"".join(p.read_bytes() for p in stack.settings.spool_dir.glob("*.spool"))
    assert cid.encode() in spooled  # written before the 302 went out
    assert await Click.filter(link_id=link.id).count() == 0  # the database is not waited for

    await stack.load_clicks()
    await stack.load_clicks()  # loading again stores nothing twice

    click = await Click.get(link_id=link.id)
    assert click.click_id == cid
    assert click.is_unique and not click.is_bot


async def test_sub_link_label_reaches_the_click_and_the_macro(
    http: Client, stack: Stack, factory: Factory
) -> None:
    from bot.services.links import LinkService

    aff = await factory.affiliate()
    await LinkService().add_sublink(aff, "youtube")
    link = await factory.link(aff, await factory.offer())

    resp = await http.get(f"/r/{link.code}/YouTube", headers=BROWSER, allow_redirects=False)
    unknown = await http.get(f"/r/{link.code}/nope", headers=BROWSER, allow_redirects=False)
    await stack.load_clicks()

    assert "s=youtube" in resp.headers["Location"]
    assert unknown.status == 302  # traffic is never lost: counted on the plain link
    assert await Click.filter(link_id=link.id).order_by("id").values_list("sub", flat=True) == [
        "youtube",
        None,
    ]


async def test_every_macro_is_filled_and_an_edited_url_applies_at_once(
    http: Client, stack: Stack, factory: Factory
) -> None:
    aff = await factory.affiliate()
    offer = await factory.offer(
        url="https://adv.example/p/{link_code}?cid={click_id}&s={sub}&a={affiliate_id}"
        "&o={offer_id}&k={keep}"
    )
    link = await factory.link(aff, offer)

    first = await http.get(f"/r/{link.code}", headers=BROWSER, allow_redirects=False)
    await stack.services.offers.update(
        offer.id, OfferPatch(target_url="https://new.example/?c={click_id}")
    )
    second = await http.get(f"/r/{link.code}", headers=BROWSER, allow_redirects=False)
    await stack.load_clicks()

    ids = await Click.filter(link_id=link.id).order_by("id").values_list("click_id", flat=True)
    assert first.headers["Location"] == (
        f"https://adv.example/p/{link.code}?cid={ids[0]}&s=&a={aff.id}&o={offer.id}&k={{keep}}"
    )
    assert second.headers["Location"] == f"https://new.example/?c={ids[1]}"


async def test_unique_clicks_are_per_visitor_per_day_and_bots_are_flagged(
    http: Client, stack: Stack, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())

    for headers in (BROWSER, BROWSER, {"User-Agent": "Safari/604"}, {"User-Agent": "TelegramBot"}):
        await http.get(f"/r/{link.code}", headers=headers, allow_redirects=False)
    await stack.load_clicks()

    rows = await Click.filter(link_id=link.id).order_by("id").values_list("is_unique", "is_bot")
    assert rows == [(True, False), (False, False), (True, False), (False, True)]


async def test_a_batch_stored_again_inserts_nothing_twice_and_keeps_its_uniqueness(
    stack: Stack, factory: Factory
) -> None:
    """What a crash between the commit and the checkpoint makes the loader do."""
    from datetime import UTC, datetime

    from bot.services.click_store import PendingClick, unique_key

    link = await factory.link(await factory.affiliate(), await factory.offer())
    clicks = stack.services.clicks
    store = stack.services.click_loader.store
    agent = BROWSER["User-Agent"]
    now = datetime.now(UTC)

    def click(n: int, ip: str) -> PendingClick:
        visitor = clicks.visitor_id(ip, agent)
        return PendingClick(
            click_id=f"{n:032d}",
            link_id=link.id,
            sub=None,
            visitor=visitor,
            is_bot=False,
            user_agent=agent,
            created_at=now,
            unique_key=unique_key(link.id, None, visitor, now),
            affiliate_id=link.affiliate_id,
            offer_id=link.offer_id,
        )

    first = await store.store([click(1, "1.1.1.1"), click(2, "1.1.1.1"), click(3, "2.2.2.2")])
    again = await store.store([click(1, "1.1.1.1"), click(2, "1.1.1.1"), click(3, "2.2.2.2")])
    await clicks.track(link.code, None, "2.2.2.2", agent)  # that visitor again, the same day
    await stack.load_clicks()

    assert first == again == [True, False, True]
    rows = await Click.filter(link_id=link.id).order_by("id").values_list("is_unique", flat=True)
    assert rows == [True, False, True, False]


async def test_bot_link_redirect_goes_to_telegram(http: Client, factory: Factory) -> None:
    aff = await factory.affiliate()
    base = await factory.link(aff)
    bot_offer = await factory.link(aff, await factory.offer(kind=OfferKind.BOT))

    r1 = await http.get(f"/r/{base.code}", headers=BROWSER, allow_redirects=False)
    r2 = await http.get(f"/r/{bot_offer.code}", headers=BROWSER, allow_redirects=False)

    assert r1.headers["Location"] == f"https://t.me/affrace_test_bot?start={base.code}"
    assert r2.headers["Location"] == f"https://t.me/affrace_test_bot?start={bot_offer.code}"


@pytest.mark.parametrize("path", ["/r/zzzzzzzz", "/r/short", "/r/%3Cscript%3E", "/r/" + "a" * 300])
async def test_unknown_codes_get_a_small_404_page(http: Client, stack: Stack, path: str) -> None:
    resp = await http.get(path, headers=BROWSER, allow_redirects=False)
    await stack.load_clicks()

    assert resp.status == 404
    assert "This link is not active" in await resp.text()
    assert await Click.all().count() == 0


async def test_disabled_offer_link_is_404_at_once(
    http: Client, stack: Stack, factory: Factory
) -> None:
    offer = await factory.offer()
    link = await factory.link(await factory.affiliate(), offer)
    assert (await http.get(f"/r/{link.code}", allow_redirects=False)).status == 302

    await stack.services.offers.set_active(offer.id, False)
    resp = await http.get(f"/r/{link.code}", allow_redirects=False)
    await stack.load_clicks()

    assert resp.status == 404
    assert await Click.all().count() == 1


async def test_oversized_query_string_is_refused_without_a_click(
    http: Client, stack: Stack, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())

    resp = await http.get(f"/r/{link.code}?x={'a' * 20000}", allow_redirects=False)
    await stack.load_clicks()

    assert resp.status in (400, 414)
    assert await Click.all().count() == 0


async def test_concurrent_clicks_are_all_stored(
    http: Client, stack: Stack, factory: Factory
) -> None:
    link = await factory.link(await factory.affiliate(), await factory.offer())

    answers = await asyncio.gather(
        *(http.get(f"/r/{link.code}", allow_redirects=False) for _ in range(60))
    )
    await stack.load_clicks()

    assert [a.status for a in answers] == [302] * 60
    assert await Click.filter(link_id=link.id).count() == 60


async def test_health_and_ready(http: Client) -> None:
    health = await http.get("/health")
    ready = await http.get("/ready")

    assert (health.status, await health.json()) == (200, {"status": "ok"})
    assert ready.status == 200
    assert (await ready.json())["status"] == "ready"


async def test_ready_says_degraded_and_why_when_redis_is_down_and_redirects_go_on(
    database: str, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    from redis.asyncio import Redis

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    stack = await build_stack(database, dead)
    http = await aiohttp_client(
        create_app(stack.settings, stack.bot, stack.dp, dead, stack.services)
    )

    resp = await http.get("/ready")

    body = await resp.json()
    assert resp.status == 200  # the instance still serves redirects: keep it in rotation
    assert body["status"] == "degraded"
    assert "redis" in body["problems"] and "database" not in body["problems"]
    await stack.services.click_loader.close()
    await dead.aclose()


@pytest.fixture
async def webhook_http(
    database: str, redis: Any, aiohttp_client: Callable[..., Awaitable[Client]]
) -> tuple[Client, Stack]:
    stack = await build_stack(
        database, redis, WEBHOOK_URL="https://bot.example/webhook", WEBHOOK_SECRET="s3cret"
    )
    app = create_app(stack.settings, stack.bot, stack.dp, redis, stack.services)
    return await aiohttp_client(app), stack


def start_update(user_id: int) -> dict[str, Any]:
    return {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "text": "/start",
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Web"},
        },
    }


async def test_webhook_checks_the_secret_then_handles_the_update(
    webhook_http: tuple[Client, Stack],
) -> None:
    http, stack = webhook_http
    secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}

    missing = await http.post("/webhook", json=start_update(7))
    wrong = await http.post(
        "/webhook", json=start_update(7), headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
    )
    good = await http.post("/webhook", json=start_update(7), headers=secret)

    assert (missing.status, wrong.status, good.status) == (401, 401, 200)
    sent = [r for r in stack.session.requests if type(r).__name__ == "SendMessage"]
    assert len(sent) == 1 and "Welcome, Web" in sent[0].text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body", [b"not json", b"\xff\xfe\x00", json.dumps({"update_id": "x"}).encode(), b"[]"]
)
async def test_webhook_garbage_gets_400_json(
    webhook_http: tuple[Client, Stack], body: bytes
) -> None:
    http, stack = webhook_http

    resp = await http.post(
        "/webhook",
        data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret", "Content-Type": "application/json"},
    )

    assert resp.status == 400
    assert (await resp.json())["ok"] is False
    assert stack.session.requests == []


async def test_webhook_route_is_absent_in_polling_mode(http: Client) -> None:
    resp = await http.post("/webhook", json=start_update(7))

    assert resp.status in (404, 405)
    assert "error" in await resp.json()


async def test_webhook_handles_an_update_sent_twice_once(
    webhook_http: tuple[Client, Stack],
) -> None:
    http, stack = webhook_http
    secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    update = {**start_update(8), "update_id": 4242}

    first = await http.post("/webhook", json=update, headers=secret)
    again = await http.post("/webhook", json=update, headers=secret)

    assert first.status == 200 and again.status == 200
    assert (await again.json())["duplicate"] is True
    sent = [r for r in stack.session.requests if type(r).__name__ == "SendMessage"]
    assert len(sent) == 1  # one welcome, not two


async def test_webhook_retries_a_failed_update_and_defers_one_being_handled(
    webhook_http: tuple[Client, Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.telegram.updates import SeenUpdates

    http, stack = webhook_http
    real = stack.dp.feed_update
    crashes = iter([RuntimeError("the process fell over mid-update")])

    async def crash_once(*args: Any, **kwargs: Any) -> Any:
        for exc in crashes:
            raise exc
        return await real(*args, **kwargs)

    monkeypatch.setattr(stack.dp, "feed_update", crash_once)
    secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    failing = {**start_update(9), "update_id": 5151}
    elsewhere = {**start_update(10), "update_id": 6161}

    failed = await http.post("/webhook", json=failing, headers=secret)
    retried = await http.post("/webhook", json=failing, headers=secret)
    await SeenUpdates(stack.redis, stack.settings.CHANNEL_PREFIX).claim(6161)  # another instance
    busy = await http.post("/webhook", json=elsewhere, headers=secret)

    assert failed.status == 500 and retried.status == 200
    assert "duplicate" not in await retried.json()  # handled this time
    welcomes = [
        r
        for r in stack.session.requests
        if type(r).__name__ == "SendMessage" and r.chat_id == 9  # type: ignore[attr-defined]
    ]
    assert len(welcomes) == 1
    assert busy.status == 503 and "being handled" in (await busy.json())["error"]
