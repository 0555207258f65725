"""The Mini App's first screen: how long from opening the app until the dashboard is drawn
with the user's numbers and answers taps, in a real headless Chromium against the real
server (warm), against a bare page from a bare aiohttp server measured in the same run.

    python3 dev.py test --co -q >/dev/null   # (sets up .venv with the dev tools once)
    .venv/bin/python bench/bench_miniapp.py [--runs 30] [--target-ms 1000]

The server runs in a child process pinned to CPU 0 (the real app, built as `python -m bot
run` builds it: SQLite on a temp file, the in-process Redis stand-in), the browser on CPU 1.
Each run opens a new browser context (no cache: the first opening, the slow case) with
Telegram's client simulated by tests/browser/telegram_stub.js, and reads
`window.affraceReadyAt`: performance.now() when the dashboard was drawn, measured from the
navigation's start. That covers the page, its ten modules and stylesheet, POST /api/session
(initData checked), the strings, GET /api/dashboard and the drawing. The baseline is the same
measurement of a page that marks itself ready in an inline script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, log, percentile, pinned, verdict

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
STUB = (ROOT / "tests" / "browser" / "telegram_stub.js").read_text()
TG_ID = 4242
BARE_PAGE = (
    "<!doctype html><html><head><meta charset=utf-8><title>bare</title></head><body>"
    "<p>bare</p><script>window.affraceReadyAt = performance.now();"
    "document.body.dataset.ready = 'dashboard';</script></body></html>"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(app_port: int, bare_port: int, workdir: str) -> None:
    """The child: the real app on `app_port` with one affiliate's month of data, and a bare
    aiohttp page on `bare_port`, until killed."""
    sys.path.insert(0, str(ROOT))
    import gc

    from aiohttp import web

    from bot import db
    from bot.config import Settings
    from bot.factory import create_app, create_bot, create_dispatcher, create_services
    from bot.logging import setup_logging
    from bot.redis import create_redis
    from tests.factories import Factory, make_click
    from tests.stack import TOKEN

    setup_logging("WARNING")
    url = f"sqlite://{workdir}/bench.sqlite3"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        BOT_TOKEN=TOKEN,
        DATABASE_URL=url,
        PUBLIC_URL=f"http://127.0.0.1:{app_port}",
        CLICK_SPOOL_DIR=f"{workdir}/spool",
    )
    await db.migrate(url)
    await db.init(url)
    redis = create_redis(None)
    bot = create_bot(settings)
    services = create_services(settings, bot, redis)
    await services.click_loader.start()
    app = create_app(settings, bot, create_dispatcher(settings, redis, services), redis, services)
    factory = Factory()
    alice = await factory.affiliate(tg_id=TG_ID, name="Alice")
    offer = await factory.offer(hold_days=0)
    link = await factory.link(alice, offer)
    for i in range(300):  # a month of clicks
        await make_click(link, seconds_ago=i * 8_000)
    gc.collect()
    gc.freeze()

    async def bare(_request: web.Request) -> web.Response:
        return web.Response(text=BARE_PAGE, content_type="text/html")

    bare_app = web.Application()
    bare_app.router.add_get("/app", bare)
    for application, port in ((app, app_port), (bare_app, bare_port)):
        runner = web.AppRunner(application, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def first_screens(base: str, runs: int, init_data: str) -> list[float]:
    """Milliseconds from navigation to the dashboard drawn, one new browser context a run."""
    from playwright.async_api import Route, async_playwright

    from tests.browser.driver import LAUNCH_ARGS

    config = json.dumps({"initData": init_data, "scheme": "light", "theme": {}})

    async def only_ours(route: Route) -> None:
        if route.request.url.startswith(base):
            await route.continue_()
        else:  # telegram-web-app.js: the stub has played it
            await route.fulfill(body="", content_type="text/javascript")

    times = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=LAUNCH_ARGS,
        )
        for _ in range(runs):
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            await context.add_init_script(script=f"window.__TG_CONFIG__ = {config};\n{STUB}")
            await context.route("**/*", only_ours)
            page = await context.new_page()
            await page.goto(base + "/app")
            await page.wait_for_selector("body[data-ready='dashboard']", timeout=10_000)
            times.append(float(await page.evaluate("window.affraceReadyAt")))
            await context.close()
        await browser.close()
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "max": ordered[-1],
    }


async def measure(args: argparse.Namespace, app: str, bare: str) -> tuple[list[float], ...]:
    sys.path.insert(0, str(ROOT))
    from tests.miniapp import init_data

    signed = init_data(TG_ID)  # signed now: valid for the whole run
    log(f"warm-up: {args.warmup} openings of each")
    await first_screens(app, args.warmup, signed)
    await first_screens(bare, args.warmup, signed)
    started = time.monotonic()
    app_ms = await first_screens(app, args.runs, signed)
    bare_ms = await first_screens(bare, args.runs, signed)
    log(f"{2 * args.runs} openings in {time.monotonic() - started:.1f} s")
    return app_ms, bare_ms


def report(args: argparse.Namespace, app_ms: list[float], bare_ms: list[float]) -> None:
    a, b = summary(app_ms), summary(bare_ms)
    print(f"Mini App first screen, {args.runs} openings each, new browser context each time")
    print(f"{'page':<12}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, s in (("dashboard", a), ("bare page", b)):
        print(f"{name:<12}{s['p50']:>10.0f}{s['p95']:>10.0f}{s['max']:>10.0f}")
    print(f"ratio bare/dashboard at p50: {b['p50'] / a['p50']:.2f}")
    ok = a["p95"] <= args.target_ms
    print(f"dashboard p95 {a['p95']:.0f} ms <= {args.target_ms:.0f} ms: {verdict(ok)}")


def run(args: argparse.Namespace) -> int:
    """The server in a child process on CPU 0, the browser here on CPU 1."""
    app_port, bare_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="affrace-bench-miniapp-") as workdir:
        serve_cmd = [sys.executable, __file__, "--serve", f"{app_port},{bare_port}"]
        child = subprocess.Popen(
            pinned([*serve_cmd, "--workdir", workdir], 0), stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                log("the server did not start")
                return 1
            os.sched_setaffinity(0, {1 % (os.cpu_count() or 1)})
            app, bare = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}"
            app_ms, bare_ms = asyncio.run(measure(args, app, bare))
        finally:
            child.kill()
            child.wait()
    report(args, app_ms, bare_ms)
    if args.json:
        a, b = summary(app_ms), summary(bare_ms)
        Path(args.json).write_text(
            json.dumps({"app": a, "bare": b, "target_ms": args.target_ms, "runs": args.runs})
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--target-ms", type=float, default=1000)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        app_port, bare_port = (int(p) for p in args.serve.split(","))
        asyncio.run(serve(app_port, bare_port, args.workdir))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
