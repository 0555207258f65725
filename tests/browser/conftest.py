"""The Mini App in a real headless Chromium (Debian's package, driven by Playwright) against
the real aiohttp server and a real database (tests/browser/driver.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.factory import create_app
from tests.browser.driver import (
    CHROMIUM,
    LAUNCH_ARGS,
    MiniApp,
    async_playwright,
    chromium_or_skip,
)
from tests.stack import Stack


@pytest.fixture
async def miniapp(
    stack: Stack, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> AsyncIterator[MiniApp]:
    chromium_or_skip()
    client = await aiohttp_client(
        create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    )
    stack.services.feed.start()
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=LAUNCH_ARGS,
        )
        app = MiniApp(browser, base)
        try:
            yield app
        finally:
            await browser.close()
            await stack.services.feed.close()
    assert app.external == [], "the app loaded something from the internet"
    assert app.console_errors == [], "the page logged errors"
