"""With SENTRY_DSN set, an error in a request reaches Sentry (a fake ingest endpoint on this
machine stands in for it) with the exception and the environment, and no personal data;
without it nothing is sent."""

from __future__ import annotations

import gzip
import json
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.factory import create_app
from bot.observability import setup_sentry
from tests.stack import Stack, make_settings


class Ingest:
    """What a Sentry ingest endpoint received (its envelopes' items, decoded)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.got = threading.Event()


@pytest.fixture
def ingest() -> Iterator[tuple[Ingest, int]]:
    got = Ingest()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            for line in body.splitlines()[1:]:
                try:
                    got.items.append(json.loads(line))
                except ValueError:
                    continue
            got.got.set()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got, server.server_address[1]
    finally:
        server.shutdown()
        sentry_sdk.init(dsn=None)  # the next test reports nothing


async def test_an_error_in_a_request_is_reported_with_the_exception_and_no_pii(
    stack: Stack,
    ingest: tuple[Ingest, int],
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    got, port = ingest
    settings = make_settings(
        stack.settings.DATABASE_URL,
        SENTRY_DSN=f"http://key@127.0.0.1:{port}/1",
        SENTRY_ENVIRONMENT="ci",
    )
    assert setup_sentry(settings)
    app = create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)

    async def boom(_request: web.Request) -> web.Response:
        raise ZeroDivisionError("the sums went wrong")

    app.router.add_get("/boom", boom)
    http = await aiohttp_client(app)

    cookie = secrets.token_hex(8)  # not in this file's source (the event quotes its lines)
    email = f"{secrets.token_hex(6)}@example.com"
    resp = await http.get(f"/boom?email={email}", headers={"Cookie": f"session={cookie}"})
    sentry_sdk.flush(timeout=5)

    events = [i for i in got.items if i.get("exception")]
    assert resp.status == 500 and (await resp.json())["code"] == "internal"
    assert events, got.items
    event = events[0]
    values = event["exception"]["values"]
    assert values[-1]["type"] == "ZeroDivisionError"
    assert event["environment"] == "ci" and event["release"].startswith("affrace@")
    sent = json.dumps(event)
    assert cookie not in sent and email not in sent  # no cookies, no query strings
    assert stack.settings.BOT_TOKEN.get_secret_value() not in sent  # no frames' locals


def test_without_a_dsn_nothing_is_set_up() -> None:
    assert setup_sentry(make_settings("sqlite://:memory:")) is False
    assert sentry_sdk.get_client().transport is None  # nowhere to send anything
