"""The admins' postback log: every postback over HTTP is kept with its outcome (rejected ones
too) and the secrets masked, capped per offer; an admin's test postback goes through the real
endpoint, signed, and stores nothing."""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.factory import create_app
from bot.services.postbacks import sign
from models import Conversion, PostbackLog
from tests.factories import Factory, make_click
from tests.stack import ADMIN_ID, Stack, build_stack

Client = TestClient[Any, Any]


@pytest.fixture
async def http(stack: Stack, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    app = create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    return await aiohttp_client(app)


def signed(secret: str = "s3cret", **params: str) -> dict[str, str]:
    params.setdefault("ts", str(int(time.time())))
    params["sig"] = sign(params, secret)
    return params


async def test_every_postback_is_logged_with_its_outcome_and_no_secret(
    http: Client, stack: Stack, factory: Factory
) -> None:
    offer = await factory.offer()
    click = await make_click(await factory.link(await factory.affiliate(), offer))
    good = signed(click_id=click.click_id, event="sale", txid="T1", amount="5.00")

    await http.get(f"/postback/{offer.id}", params=good)
    await http.get(f"/postback/{offer.id}", params=good)
    await http.get(f"/postback/{offer.id}", params={**good, "sig": "0" * 64})
    await http.post(
        f"/postback/{offer.id}", data="{broken", headers={"Content-Type": "application/json"}
    )
    await http.get("/postback/999", params={"token": "guess-me", "txid": "x"})
    await http.get("/postback/abc")
    await stack.services.journal.flush()

    mine, more = await stack.services.journal.recent(offer.id)
    unknown, _more = await stack.services.journal.recent(None)
    assert [(line.result, line.http_status) for line in mine] == [
        ("rejected", 400),
        ("rejected", 401),
        ("duplicate", 200),
        ("stored", 200),
    ]
    assert not more
    assert mine[1].reason == "bad signature" and mine[0].reason == "the body is not valid JSON"
    assert mine[3].params["click_id"] == click.click_id and mine[3].ip == "127.0.0.1"
    assert all(line.params.get("sig", "").endswith("…") for line in mine[1:])
    assert good["sig"] not in str([line.params for line in mine])
    assert [line.reason for line in unknown] == ["unknown offer", "offer 999: unknown offer"]
    assert unknown[1].params["token"] == "gues…"


async def test_the_log_keeps_only_the_newest_of_each_offer(
    database: str, redis: Any, factory: Factory
) -> None:
    stack = await build_stack(database, redis, POSTBACK_LOG_PER_OFFER=10)
    journal = stack.services.journal
    a, b = await factory.offer(title="A"), await factory.offer(title="B")
    for i in range(35):
        journal.note(a.id, {"txid": f"a{i}"}, "1.1.1.1", "rejected", 400, "x")
        if i % 7 == 0:
            await journal.flush()
    journal.note(b.id, {"txid": "b0"}, "1.1.1.1", "stored", 200, None)
    for i in range(25):
        journal.note(9999, {"txid": f"u{i}"}, "6.6.6.6", "rejected", 404, "unknown offer")
    await journal.flush()
    await journal.trim(a.id)
    await journal.trim(None)

    kept_a = (
        await PostbackLog.filter(offer_id=a.id).order_by("id").values_list("params", flat=True)
    )
    assert len(kept_a) == 10 and '"a34"' in kept_a[-1] and '"a25"' in kept_a[0]
    assert await PostbackLog.filter(offer_id=b.id).count() == 1
    assert await PostbackLog.filter(offer_id=None).count() == 10
    await stack.services.notifier.close()


async def test_a_burst_of_postbacks_is_logged_whole_newest_first(
    database: str, redis: Any, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lines that waited for a flush all reach the log, each with its own parameters and
    outcome, also when SQLite takes them over many statements (a build with the upstream
    limit of 32,766 parameters takes 4,681 lines a statement at most; here 7, to make many)."""
    from bot.services import postback_log

    monkeypatch.setattr(postback_log, "ROWS_AT_ONCE", 7)
    stack = await build_stack(database, redis, POSTBACK_LOG_PER_OFFER=10_000)
    journal = stack.services.journal
    offer = await factory.offer()
    for i in range(1_000):
        journal.note(offer.id, {"txid": f"t{i}"}, "1.1.1.1", "stored", 200, None)

    assert await journal.flush() == 1_000

    stored = await PostbackLog.filter(offer_id=offer.id).order_by("id").values_list("params")
    assert [json.loads(params)["txid"] for (params,) in stored] == [f"t{i}" for i in range(1_000)]
    newest, more = await journal.recent(offer.id)
    assert more and [line.params["txid"] for line in newest[:2]] == ["t999", "t998"]
    assert {(line.result, line.http_status, line.ip) for line in newest} == {
        ("stored", 200, "1.1.1.1")
    }
    await stack.services.notifier.close()


async def test_an_admin_fires_a_signed_test_postback_that_stores_nothing(
    http: Client, stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    await factory.offer(title="Shop")
    stack.services.tester.base_url = lambda: str(http.make_url("")).rstrip("/")
    panel = await admin.send("/admin")

    offers = await admin.press(panel.button("Postbacks"))
    log = await admin.press(offers.button("Shop"))
    fired = await admin.press(log.button("test postback"))
    after = await admin.press(fired.button("Back"))
    relog = await admin.press(after.button("Shop"))

    assert "Nothing has come in yet." in log.text
    shown = html.unescape(fired.text)
    assert "Answer: 200" in shown and '"result": "test"' in shown
    assert "nothing was stored" in shown and "sig=" in shown
    assert "Shop (1)" in " ".join(after.buttons)
    assert "🧪 test 200" in relog.text
    assert await Conversion.all().count() == 0


async def test_a_test_postback_still_refuses_a_bad_signature(
    http: Client, factory: Factory
) -> None:
    offer = await factory.offer()
    link = await factory.link(await factory.affiliate(), offer)
    params = signed(code=link.code, event="test", txid="t", test="1")

    ok = await http.get(f"/postback/{offer.id}", params=params)
    forged = await http.get(f"/postback/{offer.id}", params={**params, "sig": "1" * 64})

    assert ok.status == 200 and (await ok.json())["result"] == "test"
    assert forged.status == 401
    assert await Conversion.all().count() == 0


async def test_the_log_writer_outlives_a_database_outage_and_never_holds_up_a_stop(
    stack: Stack, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.errors import Unavailable
    from bot.services import postback_log

    journal = stack.services.journal
    offer = await factory.offer()
    calls = 0
    real = postback_log.store

    async def database_away(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise Unavailable("database")
        await real(*args, **kwargs)

    monkeypatch.setattr(postback_log, "FLUSH_SECONDS", 0.01)
    monkeypatch.setattr(postback_log, "store", database_away)
    journal.note(offer.id, {"txid": "a"}, "1.1.1.1", "stored", 200, None)
    journal.start()
    for _ in range(200):
        if await PostbackLog.all().count():
            break
        await asyncio.sleep(0.01)
    stored = await PostbackLog.all().count()
    calls_then = calls
    calls = -1_000  # from now on every try fails: the database went away again
    journal.note(offer.id, {"txid": "b"}, "1.1.1.1", "stored", 200, None)
    await asyncio.wait_for(journal.close(), 2)  # the database is away again: close anyway

    assert calls_then >= 3 and stored == 1  # it kept trying and got through
    assert len(journal.queue) == 1  # what could not be stored waits (not lost in the writer)


async def test_the_offers_postback_screen_gives_a_signed_example_that_works(
    http: Client, stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    offer = await factory.offer(title="Shop")

    shown = await admin.send(f"/offer_postback {offer.id}")

    example = html.unescape(shown.text.split("<code>")[-1].split("</code>")[0])
    assert example.startswith(f"https://aff.example/postback/{offer.id}?") and "sig=" in example
    resp = await http.get(example.removeprefix("https://aff.example"))
    assert resp.status == 200 and (await resp.json())["result"] == "test"
    assert await Conversion.all().count() == 0
