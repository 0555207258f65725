"""Advertisers' postbacks over HTTP: signatures, repeats, status moves, bad input."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.factory import create_app
from bot.services.offers import OfferPatch
from bot.services.postbacks import canonical, sign
from models import Conversion, LedgerEntry, Link, Offer
from tests.factories import Factory, make_click
from tests.stack import Stack

Client = TestClient[Any, Any]


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


def deposit(click_id: str, txid: str = "tx1", **extra: str) -> dict[str, str]:
    params = {
        "click_id": click_id,
        "event": "deposit",
        "amount": "10.00",
        "currency": "USD",
        "status": "approved",
        "txid": txid,
    }
    params.update(extra)
    return params


def test_canonical_string_sorts_and_percent_encodes() -> None:
    assert canonical({"b": "x y", "a": "1&2", "sig": "zz", "c": "ü~"}) == (
        "a=1%262&b=x%20y&c=%C3%BC~"
    )


async def test_signed_postback_is_stored_once_with_its_ledger_row(
    http: Client, setup: tuple[Offer, Link, str]
) -> None:
    offer, link, click_id = setup

    first = await http.get(f"/postback/{offer.id}", params=signed(**deposit(click_id)))
    repeat = await http.get(f"/postback/{offer.id}", params=signed(**deposit(click_id)))

    body = await first.json()
    assert (first.status, body["result"], body["status"]) == (200, "stored", "approved")
    assert (repeat.status, (await repeat.json())["result"]) == (200, "duplicate")
    assert (await repeat.json())["conversion_id"] == body["conversion_id"]
    assert await Conversion.all().count() == 1
    entries = await LedgerEntry.all().values_list("affiliate_id", "amount_minor", "currency")
    assert entries == [(link.affiliate_id, 250, "USD")]


async def test_post_form_and_json_bodies_are_accepted(
    http: Client, setup: tuple[Offer, Link, str]
) -> None:
    offer, _link, click_id = setup

    form = await http.post(f"/postback/{offer.id}", data=signed(**deposit(click_id, "f1")))
    js = await http.post(f"/postback/{offer.id}", json=signed(**deposit(click_id, "j1")))

    assert [(await r.json())["result"] for r in (form, js)] == ["stored", "stored"]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda p: {**p, "amount": "99.00"}, "bad signature"),
        (lambda p: {k: v for k, v in p.items() if k != "ts"}, "ts must be unix seconds"),
        (
            lambda p: {k: v for k, v in p.items() if k not in ("sig", "ts")},
            "missing sig (with ts) or token",
        ),
    ],
)
async def test_bad_signatures_are_401_and_change_nothing(
    http: Client, setup: tuple[Offer, Link, str], tamper: Any, reason: str
) -> None:
    offer, _link, click_id = setup

    resp = await http.get(f"/postback/{offer.id}", params=tamper(signed(**deposit(click_id))))

    assert resp.status == 401
    assert (await resp.json()) == {
        "result": "rejected",
        "conversion_id": None,
        "status": None,
        "reason": reason,
    }
    assert await Conversion.all().count() == 0


async def test_expired_timestamp_is_refused(http: Client, setup: tuple[Offer, Link, str]) -> None:
    offer, _link, click_id = setup
    old = str(int(time.time()) - 301)

    resp = await http.get(f"/postback/{offer.id}", params=signed(ts=old, **deposit(click_id)))

    assert resp.status == 401
    assert "5 minutes" in (await resp.json())["reason"]


async def test_both_secrets_work_during_a_rotation(
    http: Client, stack: Stack, setup: tuple[Offer, Link, str]
) -> None:
    offer, _link, click_id = setup
    rotated = await stack.services.offers.rotate_secret(offer.id)

    old = await http.get(
        f"/postback/{offer.id}", params=signed("s3cret", **deposit(click_id, "a"))
    )
    new = await http.get(
        f"/postback/{offer.id}", params=signed(rotated.secret, **deposit(click_id, "b"))
    )
    await stack.services.offers.rotate_secret(offer.id)
    gone = await http.get(
        f"/postback/{offer.id}", params=signed("s3cret", **deposit(click_id, "c"))
    )

    assert (old.status, new.status, gone.status) == (200, 200, 401)


async def test_token_and_ip_allow_list(
    http: Client, stack: Stack, setup: tuple[Offer, Link, str]
) -> None:
    offer, _link, click_id = setup

    good = await http.get(f"/postback/{offer.id}", params={"token": "tok-en", **deposit(click_id)})
    bad = await http.get(
        f"/postback/{offer.id}", params={"token": "nope", **deposit(click_id, "x")}
    )
    await stack.services.offers.update(offer.id, OfferPatch(ip_allowlist="10.0.0.0/8"))
    blocked = await http.get(
        f"/postback/{offer.id}", params={"token": "tok-en", **deposit(click_id, "y")}
    )

    assert (good.status, bad.status, blocked.status) == (200, 401, 403)
    assert await Conversion.all().count() == 1


@pytest.mark.parametrize(
    ("change", "status", "reason_part"),
    [
        ({"amount": "abc"}, 400, "amount"),
        ({"amount": "-5"}, 400, "amount"),
        ({"amount": "1e309"}, 400, "amount"),
        ({"amount": "NaN"}, 400, "amount"),
        ({"amount": "1.001"}, 400, "amount"),
        ({"currency": "EUR"}, 400, "currency must be USD"),
        ({"event": ""}, 400, "event"),
        ({"txid": ""}, 400, "txid"),
        ({"status": "maybe"}, 400, "status"),
        ({"click_id": "0" * 32}, 404, "unknown click_id"),
        ({"click_id": "zz"}, 400, "click_id must be the 32 hex"),
    ],
)
async def test_bad_parameters_are_named_and_change_nothing(
    http: Client,
    setup: tuple[Offer, Link, str],
    change: dict[str, str],
    status: int,
    reason_part: str,
) -> None:
    offer, _link, click_id = setup

    resp = await http.get(
        f"/postback/{offer.id}", params=signed(**{**deposit(click_id), **change})
    )

    assert resp.status == status
    assert reason_part in (await resp.json())["reason"]
    assert await Conversion.all().count() == 0


async def test_unknown_offer_and_oversized_body(http: Client) -> None:
    unknown = await http.get("/postback/999", params={"token": "x"})
    garbage = await http.get("/postback/abc")
    huge = await http.post(
        "/postback/1",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert (unknown.status, garbage.status) == (404, 404)
    assert huge.status == 413
    assert (await huge.json())["result"] == "rejected"


async def test_code_instead_of_click_id(http: Client, setup: tuple[Offer, Link, str]) -> None:
    offer, link, _click = setup
    params = {"code": link.code, "event": "signup", "txid": "c1", "token": "tok-en"}

    resp = await http.get(f"/postback/{offer.id}", params=params)

    assert (await resp.json())["result"] == "stored"
    conversion = await Conversion.get(txid="c1")
    assert conversion.link_id == link.id and conversion.click_id is None


async def test_status_moves_and_illegal_ones(http: Client, setup: tuple[Offer, Link, str]) -> None:
    offer, _link, click_id = setup

    async def send(status: str, txid: str = "t") -> tuple[int, dict[str, Any]]:
        resp = await http.get(
            f"/postback/{offer.id}", params=signed(**deposit(click_id, txid, status=status))
        )
        return resp.status, await resp.json()

    assert (await send("pending"))[1]["status"] == "pending"
    assert await LedgerEntry.all().count() == 0
    assert (await send("approved"))[1]["status"] == "approved"
    assert await LedgerEntry.all().count() == 1
    code, body = await send("pending")
    assert (code, body["result"]) == (409, "rejected")
    assert (await send("chargeback"))[1]["status"] == "reversed"
    balance = sum(await LedgerEntry.all().values_list("amount_minor", flat=True))
    assert balance == 0
    assert (await send("approved"))[0] == 409
    assert (await send("reversed", "new"))[0] == 409  # nothing to reverse
    rejected = await send("declined", "r1")
    assert rejected[1]["status"] == "rejected"
    assert (await send("approved", "r1"))[0] == 409


async def test_a_storm_of_identical_postbacks_stores_one(
    http: Client, setup: tuple[Offer, Link, str]
) -> None:
    offer, _link, click_id = setup
    params = signed(**deposit(click_id, "storm"))

    answers = await asyncio.gather(
        *(http.get(f"/postback/{offer.id}", params=params) for _ in range(50))
    )

    results = [(await a.json())["result"] for a in answers]
    assert {a.status for a in answers} == {200}
    assert results.count("stored") == 1 and results.count("duplicate") == 49
    assert await Conversion.all().count() == 1
    assert await LedgerEntry.all().count() == 1


async def test_postbacks_arriving_together_are_each_credited_through_their_own_click(
    http: Client, factory: Factory
) -> None:
    """The clicks of postbacks that arrive together are read together: each conversion still
    goes to the affiliate of the click it names, and a click that is unknown or another
    offer's is refused on its own."""
    offer, other_offer = await factory.offer(), await factory.offer("Other")
    links = [await factory.link(await factory.affiliate(), offer) for _ in range(12)]
    clicks = [await make_click(link) for link in links]
    elsewhere = await make_click(await factory.link(await factory.affiliate(), other_offer))
    named = [c.click_id for c in clicks] + [elsewhere.click_id, "0" * 32]

    answers = await asyncio.gather(
        *(
            http.get(f"/postback/{offer.id}", params=signed(**deposit(click_id, f"t{i}")))
            for i, click_id in enumerate(named)
        )
    )

    bodies = [await a.json() for a in answers]
    assert [b["result"] for b in bodies] == ["stored"] * 12 + ["rejected"] * 2
    assert [a.status for a in answers[12:]] == [404, 404]
    stored = await Conversion.all().values_list("txid", "affiliate_id", "link_id", "click_id")
    expected = [
        (f"t{i}", link.affiliate_id, link.id, click.id)
        for i, (link, click) in enumerate(zip(links, clicks, strict=True))
    ]
    assert sorted(stored) == sorted(expected)


async def test_fast_or_bot_clicks_are_held_for_review(
    http: Client, stack: Stack, factory: Factory, setup: tuple[Offer, Link, str]
) -> None:
    from tests.stack import ADMIN_ID

    offer, link, _click = setup
    fast = await make_click(link, seconds_ago=1)
    bot = await make_click(link, is_bot=True)
    await stack.tg.user(ADMIN_ID).send("/start")  # an admin the bot can write to

    a = await http.get(f"/postback/{offer.id}", params=signed(**deposit(fast.click_id, "f")))
    b = await http.get(f"/postback/{offer.id}", params=signed(**deposit(bot.click_id, "b")))

    assert [(await r.json())["status"] for r in (a, b)] == ["pending", "pending"]
    assert "too soon" in (await a.json())["reason"]
    assert await Conversion.filter(review=True).count() == 2
    assert await LedgerEntry.all().count() == 0
    await stack.deliver()
    told = [r.text for r in stack.session.requests if getattr(r, "chat_id", None) == ADMIN_ID]
    held = sorted(t for t in told if "held for your review" in t)
    ids = sorted(await Conversion.filter(review=True).values_list("id", flat=True))
    assert held == sorted(
        [
            f"🔎 Conversion #{ids[0]} is held for your review: too soon after the click. "
            "See /reviews",
            f"🔎 Conversion #{ids[1]} is held for your review: the click came from a bot. "
            "See /reviews",
        ]
    )
    listing = await stack.tg.user(ADMIN_ID).send("/reviews")
    owner = await link.affiliate
    assert f"(id {owner.tg_id})" in listing.text  # a person, not a bare id
    assert "the click came from a bot" in listing.text  # the reason as admins read it


async def test_converting_through_your_own_link_is_refused(
    http: Client, setup: tuple[Offer, Link, str]
) -> None:
    from models import Affiliate

    offer, link, click_id = setup
    owner = await Affiliate.get(id=link.affiliate_id)

    own = await http.get(
        f"/postback/{offer.id}", params=signed(**deposit(click_id, tg_user_id=str(owner.tg_id)))
    )
    other = await http.get(
        f"/postback/{offer.id}", params=signed(**deposit(click_id, "o", tg_user_id="42"))
    )

    assert own.status == 403 and "own link" in (await own.json())["reason"]
    assert other.status == 200
    assert await Conversion.all().count() == 1
