"""The Mini App's API and live boards over real HTTP and WebSockets: initData is the only
proof of who is asking, every refusal is JSON that says why, and the numbers are the ones
the chat shows (the same services)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient

from bot.factory import create_app
from bot.services.conversions import Claim
from bot.web.api import views
from models import Affiliate, ConversionStatus, Offer, PayoutRequest, Referral
from scheduler import jobs
from tests.factories import Factory, race_draft
from tests.miniapp import as_user, init_data
from tests.stack import ADMIN_ID, Stack

Client = TestClient[Any, Any]
OPENAPI = Path(__file__).resolve().parents[2] / "webapp" / "openapi.json"


@pytest.fixture
async def http(stack: Stack, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    app = create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    return await aiohttp_client(app)


async def earn(stack: Stack, factory: Factory, owner: Affiliate, minor: int, txid: str) -> Offer:
    offer = await factory.offer(hold_days=0)
    await Offer.filter(id=offer.id).update(payout_minor=minor)
    offer = await Offer.get(id=offer.id)
    link = await factory.link(owner, offer)
    await stack.services.conversions.record(
        Claim(offer, link, None, None, txid, "sale", 0, "USD", ConversionStatus.APPROVED)
    )
    return offer


async def test_requests_without_genuine_fresh_init_data_are_refused_with_a_reason(
    http: Client,
) -> None:
    genuine = init_data(1)
    forged = re.sub(r"hash=[0-9a-f]+", "hash=" + "0" * 64, genuine)
    altered = genuine.replace("Alice", "Mallory")  # the user changed, the hash kept
    cases = {
        "no header": {},
        "wrong scheme": {"Authorization": "Bearer " + genuine},
        "missing hash": {"Authorization": "tma " + re.sub(r"&?hash=[0-9a-f]+", "", genuine)},
        "forged hash": {"Authorization": "tma " + forged},
        "altered user": {"Authorization": "tma " + altered},
        "stale": as_user(1, age=2 * 86_400),
        "another bot": as_user(1, token="999999:" + "B" * 35),
        "not a query": {"Authorization": "tma %%%"},
    }
    for name, headers in cases.items():
        resp = await http.get("/api/dashboard", headers=headers)
        body = await resp.json()
        assert resp.status == 401, name
        assert body["ok"] is False and body["code"] == "unauthenticated", name
        assert body["error"], name
    stale = await (await http.get("/api/balance", headers=as_user(1, age=90_000))).json()
    assert "expired" in stale["error"]
    russian = await http.get("/api/balance", headers={"Accept-Language": "ru-RU,ru"})
    assert (
        "Telegram" in (await russian.json())["error"] and "бот" in (await russian.json())["error"]
    )
    assert await Affiliate.filter(tg_id=1).count() == 0  # nobody was created


async def test_opening_the_app_with_a_code_credits_the_referral_once_and_never_yourself(
    http: Client, factory: Factory
) -> None:
    referrer = await factory.affiliate(tg_id=10, name="Ref")
    code = (await factory.link(referrer)).code

    first = await http.post("/api/session", headers=as_user(11, start_param=code))
    again = await http.post("/api/session", headers=as_user(11, start_param=code))
    own = await http.post("/api/session", headers=as_user(10, start_param=code))
    unknown = await http.post("/api/session", headers=as_user(12, start_param="nosuchcode"))

    body = await first.json()
    assert first.status == 200
    assert body["referral"] == "credited" and body["first_start"] is True
    assert body["user"]["tg_id"] == 11 and body["user"]["is_admin"] is False
    assert body["can_message"] is False  # allows_write_to_pm not given: the app asks
    assert (await again.json())["referral"] == "repeat"
    assert (await own.json())["referral"] in ("self", "repeat")
    assert (await unknown.json())["referral"] == "unknown"
    assert await Referral.filter(referrer_id=referrer.id).count() == 1


async def test_the_dashboard_shows_the_callers_numbers_whatever_the_parameters_say(
    http: Client, stack: Stack, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=21, name="Alice")
    bob = await factory.affiliate(tg_id=22, name="Bob")
    await earn(stack, factory, alice, 1250, "a1")
    await earn(stack, factory, bob, 9900, "b1")

    resp = await http.get("/api/dashboard?period=today&user_id=22&tg_id=22", headers=as_user(21))
    bad = await http.get("/api/dashboard?period=1y", headers=as_user(21))

    body = await resp.json()
    assert resp.status == 200
    today = body["cards"]["today"]
    assert today["conversions"] == 1
    assert today["earnings"] == [{"currency": "USD", "amount": "12.50", "text": "$12.50"}]
    assert body["chart"]["unit"] == "hour" and len(body["chart"]["points"]) == 24
    assert sum(p["conversions"] for p in body["chart"]["points"]) == 1
    assert bad.status == 400 and "period" in (await bad.json())["error"]


async def test_links_and_sub_links_with_qr_codes_and_clear_refusals(
    http: Client, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=31)
    await factory.offer(title="Shop")
    me = as_user(31)

    listing = await (await http.get("/api/links", headers=me)).json()
    added = await http.post("/api/sublinks", json={"label": "youtube"}, headers=me)
    twice = await http.post("/api/sublinks", json={"label": "youtube"}, headers=me)
    bad = await http.post("/api/sublinks", json={"label": "no spaces!"}, headers=me)
    extra = await http.post("/api/sublinks", json={"label": "x", "admin": True}, headers=me)
    not_json = await http.post("/api/sublinks", data=b"label=x", headers=me)
    huge = await http.post("/api/sublinks", data=b"{" + b" " * 20_000 + b"}", headers=me)
    own = listing["links"][0]
    qr = await http.get(f"/api/links/{own['link_id']}/qr", headers=me)
    qr_sub = await http.get(f"/api/links/{own['link_id']}/qr?sub=youtube", headers=me)
    someone_elses = await factory.link(await factory.affiliate(tg_id=32))
    foreign = await http.get(f"/api/links/{someone_elses.id}/qr", headers=me)
    removed = await http.delete("/api/sublinks/youtube", headers=me)
    gone = await http.delete("/api/sublinks/youtube", headers=me)

    assert [link["kind"] for link in listing["links"]] == ["own", "url"]
    assert own["url"] == f"https://t.me/affrace_test_bot?start={own['code']}"
    assert listing["links"][1]["title"] == "Shop"
    assert added.status == 201 and (await added.json())["sublinks"] == ["youtube"]
    assert twice.status == 409 and (await twice.json())["code"] == "conflict"
    assert bad.status == 400 and (await bad.json())["error"]
    assert extra.status == 400 and "admin" in (await extra.json())["error"]
    assert not_json.status == 400 and "JSON" in (await not_json.json())["error"]
    assert huge.status == 413 and (await huge.json())["code"] == "too_large"
    assert qr.status == 200 and (await qr.read()).startswith(b"\x89PNG")
    assert qr_sub.status == 200
    assert foreign.status == 404 and (await foreign.json())["code"] == "not_found"
    assert removed.status == 200 and (await removed.json())["sublinks"] == []
    assert gone.status == 404
    assert alice.id  # the caller was the affiliate the factory made, not a new one
    assert await Affiliate.filter(tg_id=31).count() == 1


async def test_races_list_card_join_and_a_live_board_after_a_tick(
    http: Client, stack: Stack, factory: Factory
) -> None:
    races = stack.services.races
    open_race = await races.create(race_draft(title="Open cup", opt_in=True))
    await jobs.tick_races(
        races, stack.services.race_news, stack.services.lease, stack.services.feed
    )
    stack.services.feed.start()
    await asyncio.wait_for(stack.services.feed.subscribed.wait(), 5)
    me = as_user(41, first_name="Alice")
    await http.post("/api/session", headers=me)

    listing = await (await http.get("/api/races", headers=me)).json()
    joined = await http.post(f"/api/races/{open_race.id}/join", headers=me)
    missing = await http.get("/api/races/999999", headers=me)
    not_a_number = await http.get("/api/races/abc", headers=me)
    ws = await http.ws_connect(f"/ws/races/{open_race.id}?auth={quote(init_data(41))}")
    try:
        first = await ws.receive_json(timeout=5)
        alice = await Affiliate.get(tg_id=41)
        referrer_link = await factory.link(alice)
        await stack.services.referrals.register_start(
            await factory.affiliate(tg_id=42), referrer_link.code
        )
        await jobs.tick_races(
            races, stack.services.race_news, stack.services.lease, stack.services.feed
        )
        update = await ws.receive_json(timeout=5)
    finally:
        await ws.close()
        await stack.services.feed.close()
    with pytest.raises(WSServerHandshakeError) as refused:
        await http.ws_connect(f"/ws/races/{open_race.id}?auth=forged")

    assert [r["title"] for r in listing["races"]] == ["Open cup"]
    assert listing["races"][0]["status"] == "running" and listing["races"][0]["joined"] is False
    card = await joined.json()
    assert joined.status == 200 and card["joined"] is True and card["can_join"] is False
    assert missing.status == 404 and not_a_number.status == 400
    assert first["type"] == "card" and first["card"]["me"]["score"] == 0  # joined, no score yet
    assert update["type"] == "card"
    assert update["card"]["me"]["rank"] == 1 and update["card"]["me"]["score"] == 1
    assert update["card"]["top"][0]["me"] is True
    assert update["card"]["prizes"][0]["text"] == "$50.00 + Hoodie"
    assert refused.value.status == 401


async def test_balance_payout_request_and_the_admin_queue(
    http: Client, stack: Stack, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=51, name="Alice")
    await earn(stack, factory, alice, 2500, "p1")
    me, admin = as_user(51), as_user(ADMIN_ID)
    await http.post("/api/session", headers=admin)

    before = await (await http.get("/api/balance", headers=me)).json()
    asked = await http.post(
        "/api/payouts", json={"currency": "USD", "details": "TXyz"}, headers=me
    )
    twice = await http.post(
        "/api/payouts", json={"currency": "USD", "details": "TXyz"}, headers=me
    )
    wrong = await http.post("/api/payouts", json={"currency": "usd", "details": "x"}, headers=me)
    after = await (await http.get("/api/balance", headers=me)).json()
    history = await (await http.get("/api/history", headers=me)).json()
    hidden = await http.get("/api/admin/overview", headers=me)
    forbidden = await http.post("/api/admin/payouts/1/approve", headers=me)
    overview = await (await http.get("/api/admin/overview", headers=admin)).json()
    payout_id = overview["payouts"][0]["id"]
    rejected = await http.post(
        f"/api/admin/payouts/{payout_id}/reject", json={"reason": "wrong wallet"}, headers=admin
    )
    again = await http.post(f"/api/admin/payouts/{payout_id}/approve", headers=admin)

    row = before["balances"][0]
    assert row["available"]["text"] == "$25.00" and row["can_request"] is True
    assert asked.status == 201 and (await asked.json())["amount"]["amount"] == "25.00"
    assert twice.status == 409 and "waiting" in (await twice.json())["error"]
    assert wrong.status == 400
    assert (
        after["open_request"]["status"] == "open" and after["balances"][0]["can_request"] is False
    )
    assert history["items"][0]["kind"] == "payout" and history["items"][0]["text"].startswith(
        "payout #"
    )
    assert hidden.status == 404 and forbidden.status == 404  # no trace of the admin API
    assert overview["totals"]["today"]["conversions"] == 1
    assert overview["payouts"][0]["person"].startswith("Alice (id 51)")
    assert rejected.status == 200 and (await rejected.json())["status"] == "rejected"
    assert again.status == 409
    assert (await PayoutRequest.get(id=payout_id)).note == "wrong wallet"
    final = await (await http.get("/api/balance", headers=me)).json()
    assert final["balances"][0]["available"]["text"] == "$25.00"  # the money came back


async def test_the_postback_counts_of_today_reach_the_admin_overview(
    http: Client, stack: Stack, factory: Factory
) -> None:
    await http.get("/postback/999?click_id=x")  # unknown offer: rejected
    overview = await (await http.get("/api/admin/overview", headers=as_user(ADMIN_ID))).json()

    assert overview["postbacks_today"] == {"stored": 0, "duplicate": 0, "rejected": 1}


def test_the_openapi_document_and_the_routes_served_are_the_same() -> None:
    document = json.loads(OPENAPI.read_text())
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    served = _served_api_routes()
    assert documented == served


def _served_api_routes() -> set[tuple[str, str]]:
    app = web.Application()
    views.setup(app)
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/")
    }


async def test_a_live_board_hears_at_once_when_an_admin_cancels_or_ends_the_race(
    http: Client, stack: Stack
) -> None:
    races = stack.services.races
    doomed = await races.create(race_draft(title="Doomed cup"))
    ending = await races.create(race_draft(title="Short cup"))
    await jobs.tick_races(
        races, stack.services.race_news, stack.services.lease, stack.services.feed
    )
    stack.services.feed.start()
    await asyncio.wait_for(stack.services.feed.subscribed.wait(), 5)
    admin = stack.tg.user(ADMIN_ID)
    cancelled = await http.ws_connect(f"/ws/races/{doomed.id}?auth={quote(init_data(61))}")
    ended = await http.ws_connect(
        f"/ws/races/{ending.id}?auth={quote(init_data(62, language='ru'))}"
    )
    try:
        await cancelled.receive_json(timeout=5)
        await ended.receive_json(timeout=5)
        asked = await admin.send(f"/race_cancel {doomed.id}")
        await admin.press(asked.button("Yes, cancel it"))
        gone = await cancelled.receive_json(timeout=5)
        asked = await admin.send(f"/race_end {ending.id}")
        await admin.press(asked.button("Yes, end it"))
        final = await ended.receive_json(timeout=5)
    finally:
        await cancelled.close()
        await ended.close()
        await stack.services.feed.close()

    assert gone == {
        "type": "error",
        "code": "not_found",
        "error": f"There is no race #{doomed.id}.",
    }
    assert final["type"] == "card" and final["card"]["race"]["status"] == "finished"
    assert final["card"]["result"] is None  # the viewer took no part


async def test_a_tick_sends_every_viewer_of_a_board_their_own_card_built_together(
    http: Client, stack: Stack, factory: Factory
) -> None:
    """Many viewers of one board, in two languages, on different places: after a tick each
    gets the same card it would get asking alone (its own rank, gap and points)."""
    from datetime import UTC, datetime

    from bot.services.races import ScoreEvent
    from models import RaceMetric

    races = stack.services.races
    race = await races.create(race_draft(title="Crowd cup", metric=RaceMetric.CLICKS))
    await jobs.tick_races(
        races, stack.services.race_news, stack.services.lease, stack.services.feed
    )
    people = [await factory.affiliate(tg_id=600 + n, name=f"P{n}") for n in range(12)]

    async def score(points: dict[int, int]) -> None:
        now = datetime.now(UTC)
        await races.scoring.apply(
            [
                ScoreEvent(RaceMetric.CLICKS, people[n].id, None, now, final=p)
                for n, p in points.items()
            ]
        )
        await jobs.tick_races(
            races, stack.services.race_news, stack.services.lease, stack.services.feed
        )

    await score({n: n + 1 for n in range(10)})  # two of them have no place yet
    stack.services.feed.start()
    await asyncio.wait_for(stack.services.feed.subscribed.wait(), 5)
    sockets = []
    try:
        for n in range(12):
            language = "ru" if n % 2 else "en"
            auth = quote(init_data(600 + n, language=language))
            ws = await http.ws_connect(f"/ws/races/{race.id}?auth={auth}")
            await ws.receive_json(timeout=5)  # the card as it was
            sockets.append(ws)
        await score({0: 20, 11: 3})  # the last one overtakes everyone; one enters the board
        cards = [(await ws.receive_json(timeout=5))["card"] for ws in sockets]
    finally:
        for ws in sockets:
            await ws.close()
        await stack.services.feed.close()
    alone = []
    for n in range(12):
        headers = as_user(600 + n, language="ru" if n % 2 else "en")
        alone.append(await (await http.get(f"/api/races/{race.id}", headers=headers)).json())

    assert cards == alone
    assert cards[0]["me"]["rank"] == 1 and cards[0]["gap"] is None
    assert cards[9]["me"]["rank"] == 2  # 10 points, behind the 21
    assert cards[11]["me"]["rank"] == 10 and cards[10]["me"] is None  # a tie: later is lower
