"""Drives the Mini App in a real headless Chromium as Telegram's client would open it:
telegram_stub.js plays the client, and every request that leaves our server is aborted and
recorded."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.miniapp import init_data

try:
    from playwright.async_api import (
        Browser,
        ConsoleMessage,
        Page,
        Request,
        Route,
        async_playwright,
    )
except ImportError:  # pragma: no cover - the dev extra installs it
    async_playwright = None  # type: ignore[assignment]

HERE = Path(__file__).resolve().parent
# Where the screenshots go: .cache/screenshots/ by default (a test run changes no tracked
# file); SCREENSHOTS_DIR=docs/screenshots refreshes the README's.
SCREENSHOTS = HERE.parents[1] / os.environ.get("SCREENSHOTS_DIR", ".cache/screenshots")
STUB = (HERE / "telegram_stub.js").read_text()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TELEGRAM_JS = "https://telegram.org/js/telegram-web-app.js"
# Telegram's own telegram-web-app.js (npm @twa-dev/sdk ships a copy; .ci/run fetches it).
REAL_SCRIPT = Path(
    os.environ.get("TELEGRAM_WEB_APP_JS", HERE.parents[1] / ".cache" / "telegram-web-app.js")
)


@functools.cache
def real_script_text() -> str:
    return REAL_SCRIPT.read_text()


# What Telegram's client does with the events the script posts: records them.
WEBVIEW_PROXY = """
window.__posted = [];
window.TelegramWebviewProxy = {
  postEvent(type, data) { window.__posted.push({type, data: data ? JSON.parse(data) : null}); },
};
"""
PHONE = {"width": 390, "height": 844}
# Debian's Chromium with nothing of its own reaching out (the closed network refuses it).
LAUNCH_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update"]

# Telegram's own default themes (what the Android client sends).
LIGHT = {
    "bg_color": "#ffffff",
    "text_color": "#000000",
    "hint_color": "#999999",
    "link_color": "#2481cc",
    "button_color": "#2481cc",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#efeff3",
    "section_bg_color": "#ffffff",
    "section_header_text_color": "#6d6d72",
    "subtitle_text_color": "#999999",
    "accent_text_color": "#2481cc",
    "destructive_text_color": "#ff3b30",
}
DARK = {
    "bg_color": "#212d3b",
    "text_color": "#ffffff",
    "hint_color": "#7d8b99",
    "link_color": "#5eabe1",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#151e27",
    "section_bg_color": "#1d2733",
    "section_header_text_color": "#5eabe1",
    "subtitle_text_color": "#7d8b99",
    "accent_text_color": "#5eabe1",
    "destructive_text_color": "#ec3942",
}
THEMES = {"light": LIGHT, "dark": DARK}


def chromium_or_skip(real_script: bool = False) -> None:
    missing = []
    if real_script and not REAL_SCRIPT.exists():
        missing.append(f"{REAL_SCRIPT} (npm pack @twa-dev/sdk: see .ci/run)")
    if async_playwright is None:
        missing.append("playwright (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        if os.environ.get("TEST_BROWSER") == "required":
            pytest.fail("browser tests required but missing: " + ", ".join(missing))
        pytest.skip("browser tests need " + ", ".join(missing))


@dataclass
class MiniApp:
    """Opens the app as a Telegram user would, each time in a new browser context."""

    browser: Browser
    base: str
    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    async def open(
        self,
        tg_id: int,
        *,
        scheme: str = "light",
        init: str | None = None,
        ready: str | None = "dashboard",
        **signed: Any,
    ) -> Page:
        config = {
            "initData": init if init is not None else init_data(tg_id, **signed),
            "scheme": scheme,
            "theme": THEMES[scheme],
        }
        context = await self.browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            color_scheme=scheme,  # type: ignore[arg-type]
            locale="ru-RU" if signed.get("language") == "ru" else "en-US",  # the phone's
        )
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.base)
        await context.add_init_script(
            script=f"window.__TG_CONFIG__ = {json.dumps(config)};\n{STUB}"
        )
        await context.route("**/*", self._only_our_server(""))
        page = await context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        await page.goto(self.base + "/app")
        if ready:
            await page.wait_for_selector(f"body[data-ready='{ready}']", timeout=10_000)
        return page

    async def open_in_telegram(
        self, tg_id: int, *, scheme: str = "light", inline: bool = True, **signed: Any
    ) -> Page:
        """The app under Telegram's own telegram-web-app.js, as the client starts it: the
        launch parameters in the URL's fragment, events posted to TelegramWebviewProxy."""
        params = {
            "tgWebAppData": init_data(tg_id, **signed),
            "tgWebAppVersion": "8.0",
            "tgWebAppPlatform": "android",
            "tgWebAppThemeParams": json.dumps(THEMES[scheme]),
        }
        if inline:  # the bot has inline mode on (@BotFather /setinline)
            params["tgWebAppBotInline"] = "1"
        launch = urlencode(params, quote_via=quote)
        context = await self.browser.new_context(
            viewport=PHONE,
            color_scheme=scheme,  # type: ignore[arg-type]
        )
        await context.add_init_script(script=WEBVIEW_PROXY)
        await context.route("**/*", self._only_our_server(real_script_text()))
        page = await context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        await page.goto(f"{self.base}/app#{launch}")
        await page.wait_for_selector("body[data-ready='dashboard']", timeout=10_000)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        # A refusal the app shows on screen is also logged by the browser as a failed load;
        # Telegram's script logs its own refusals (the app handles them).
        ours = not message.text.startswith(("Failed to load resource", "[Telegram."))
        if message.type == "error" and ours:
            self.console_errors.append(message.text)

    def _only_our_server(self, telegram_js: str) -> Callable[[Route, Request], Awaitable[None]]:
        """Requests to our server go through; Telegram's script is served from here (the
        stub has already played it, or its real text); everything else is refused."""

        async def handle(route: Route, request: Request) -> None:
            if request.url.startswith(self.base):
                await route.continue_()
            elif request.url == TELEGRAM_JS:
                await route.fulfill(body=telegram_js, content_type="text/javascript")
            else:
                self.external.append(request.url)
                await route.abort()

        return handle


async def calls(page: Page, name: str) -> list[list[Any]]:
    """The arguments of each call the app made of Telegram's `name` (e.g. "switchInlineQuery")."""
    made = await page.evaluate("window.__tg.calls")
    return [c["args"] for c in made if c["name"] == name]


async def eventually(
    probe: Callable[[], Awaitable[Any]], timeout: float = 5.0, step: float = 0.05
) -> Any:
    """What `probe` answers once it answers something (a non-empty value), or its last answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    answer = await probe()
    while not answer and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(step)
        answer = await probe()
    return answer


async def posted(page: Page, kind: str) -> list[Any]:
    """The data of each event of `kind` Telegram's script posted to the client."""
    events = await page.evaluate("window.__posted")
    return [e["data"] for e in events if e["type"] == kind]


async def receive(page: Page, kind: str, data: Any = None) -> None:
    """The client sends the app an event (a button pressed, a theme changed)."""
    await page.evaluate("([k, d]) => Telegram.WebView.receiveEvent(k, d)", [kind, data])


async def main_button(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate(
        "({text: Telegram.WebApp.MainButton.text, visible: Telegram.WebApp.MainButton.isVisible})"
    )
    return state


async def back_visible(page: Page) -> bool:
    return bool(await page.evaluate("Telegram.WebApp.BackButton.isVisible"))


async def shoot(page: Page, name: str) -> None:
    """A screenshot for the README (docs/screenshots/NAME.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(150)  # let transitions settle
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
