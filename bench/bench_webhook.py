"""Update handling through the webhook against bare aiogram dispatch of the same updates.

    .venv/bin/python bench/bench_webhook.py [--updates 6000] [--concurrency 32] [--json FILE]
        [--profile FILE]

* **webhook** (judged): `POST /webhook` with the secret header, served by the project's own
  aiohttp app built as `python -m bot run` builds it (`create_bot` with a mocked Bot session
  from tests/mocked_bot.py, so Telegram is never called; `create_services`,
  `create_dispatcher` with every middleware: metrics, user, i18n, throttling, bans, Redis FSM
  storage and event isolation; `create_app`), on PostgreSQL (`affrace_bench_webhook`, made
  anew) and a real Redis (db 14). Each update is parsed, claimed once in Redis, dispatched and
  handled before the 200, as in production. Loaded from a child process on the other CPU by
  an aiohttp client with `--concurrency` requests in flight (Telegram opens up to 40).
* **bare** (the baseline): a bare `Dispatcher()` with one trivial handler per update type,
  `feed_update` of the same updates (validated from the same JSON), same concurrency, in the
  server's process on the same CPU.
* **bare over HTTP** (shown, not judged): the bare dispatcher behind a bare aiohttp route,
  loaded by the same client: how much of the gap is HTTP itself.

The mix (per 100 updates): 10 `/start` from new users (half with an existing affiliate's
referral code), 10 `/start` from existing affiliates, 50 menu button presses (callback
queries: main menu, links, stats, races, balance, settings, help) and 10 `/menu` or `/help`
from existing affiliates, 20 plain texts. 2,000 existing affiliates, two URL offers and one
running race. Target: webhook/bare >= 0.3.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common import (
    FAKE_TOKEN,
    log,
    percentile,
    pinned,
    recreate_database,
    refuse_shared_redis,
    verdict,
)

SCRIPT = Path(__file__).resolve()
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/affrace_bench_webhook"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "bench-webhook-secret-0123456789"
TARGET_RATIO = 0.3
EXISTING = 2000
USER_BASE = 6_100_000_000
NEW_BASE = 6_200_000_000
MENU_ACTIONS = ("main", "links", "stats", "races", "bal", "set", "help")
TEXTS = ("hello", "how do I get paid?", "thanks!", "where is my link", "👍")


# --------------------------------------------------------------------------- updates


def person(tg_id: int) -> dict[str, Any]:
    return {
        "id": tg_id,
        "is_bot": False,
        "first_name": f"U{tg_id % 10_000}",
        "language_code": "en",
    }


def message(update_id: int, tg_id: int, text: str) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": tg_id, "type": "private", "first_name": f"U{tg_id % 10_000}"},
        "from": person(tg_id),
        "text": text,
    }
    if text.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": msg}


def press(update_id: int, tg_id: int, data: str) -> dict[str, Any]:
    shown = {
        "message_id": 1,
        "date": int(time.time()) - 60,
        "chat": {"id": tg_id, "type": "private", "first_name": f"U{tg_id % 10_000}"},
        "from": {"id": 424242, "is_bot": True, "first_name": "Affrace"},
        "text": "menu",
    }
    query = {
        "id": str(update_id),
        "from": person(tg_id),
        "chat_instance": f"ci{tg_id}",
        "data": data,
        "message": shown,
    }
    return {"update_id": update_id, "callback_query": query}


def mix(n: int, first_id: int, ref_codes: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """`n` updates from the mix above, update ids from `first_id`."""
    updates = []
    fresh = NEW_BASE + first_id
    for k in range(n):
        uid = first_id + k
        old = USER_BASE + rng.randrange(EXISTING)
        roll = rng.randrange(100)
        if roll < 10:
            fresh += 1
            payload = f" {rng.choice(ref_codes)}" if roll < 5 else ""
            updates.append(message(uid, fresh, "/start" + payload))
        elif roll < 20:
            updates.append(message(uid, old, "/start"))
        elif roll < 70:
            updates.append(press(uid, old, f"m:{rng.choice(MENU_ACTIONS)}"))
        elif roll < 80:
            updates.append(message(uid, old, rng.choice(("/menu", "/help"))))
        else:
            updates.append(message(uid, old, rng.choice(TEXTS)))
    return updates


# --------------------------------------------------------------------------- the client


def client_main(args: argparse.Namespace) -> int:
    """POST each body once, `concurrency` in flight; latencies and answers to a JSON file."""
    import aiohttp

    bodies = [line.encode() for line in Path(args.bodies).read_text().splitlines()]
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def go() -> dict[str, Any]:
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        position = iter(range(len(bodies)))
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def worker() -> None:
                for i in position:
                    started = time.perf_counter()
                    async with http.post(args.url, data=bodies[i], headers=headers) as resp:
                        await resp.read()
                    latencies.append(time.perf_counter() - started)
                    statuses[str(resp.status)] = statuses.get(str(resp.status), 0) + 1

            cpu = time.process_time()
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            elapsed = time.perf_counter() - started
        latencies.sort()
        return {
            "elapsed": elapsed,
            "statuses": statuses,
            "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3,
            "client_cpu": (time.process_time() - cpu) / elapsed,
        }

    Path(args.result).write_text(json.dumps(asyncio.run(go())))
    return 0


async def load(
    url: str, updates: list[dict[str, Any]], concurrency: int, cpu: int | None, workdir: Path
) -> dict[str, Any]:
    bodies, result = workdir / "bodies.jsonl", workdir / "result.json"
    bodies.write_text("\n".join(json.dumps(u, ensure_ascii=False) for u in updates))
    result.unlink(missing_ok=True)
    cmd = [sys.executable, str(SCRIPT), "--_client", "--url", url, "--bodies", str(bodies)]
    cmd += ["--result", str(result), "--concurrency", str(concurrency)]
    proc = await asyncio.create_subprocess_exec(*pinned(cmd, cpu))
    cpu_before = time.process_time()
    await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"the client failed (exit {proc.returncode})")
    got: dict[str, Any] = json.loads(result.read_text())
    got["server_cpu"] = (time.process_time() - cpu_before) / got["elapsed"]
    got["rate"] = len(updates) / got["elapsed"]
    return got


# --------------------------------------------------------------------------- the servers


def bare_dispatcher() -> Any:
    from aiogram import Dispatcher, Router
    from aiogram.types import CallbackQuery, Message

    router = Router()

    @router.message()
    async def on_message(_message: Message) -> None:
        return None

    @router.callback_query()
    async def on_press(_query: CallbackQuery) -> None:
        return None

    dp = Dispatcher()
    dp.include_router(router)
    return dp


def bare_app(dp: Any, bot: Any) -> Any:
    from aiogram.types import Update
    from aiohttp import web

    async def hook(request: web.Request) -> web.Response:
        update = Update.model_validate(json.loads(await request.text()), context={"bot": bot})
        await dp.feed_update(bot, update)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/webhook", hook)
    return app


async def feed_bare(dp: Any, bot: Any, updates: list[dict[str, Any]], concurrency: int) -> dict:
    """The baseline: validate and feed each update, `concurrency` at a time, in process."""
    from aiogram.types import Update

    texts = [json.dumps(u, ensure_ascii=False) for u in updates]
    position = iter(range(len(texts)))
    latencies: list[float] = []

    async def worker() -> None:
        for i in position:
            started = time.perf_counter()
            update = Update.model_validate(json.loads(texts[i]), context={"bot": bot})
            await dp.feed_update(bot, update)
            latencies.append(time.perf_counter() - started)

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "elapsed": elapsed,
        "rate": len(texts) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "server_cpu": (time.process_time() - cpu) / elapsed,
        "statuses": {"200": len(texts)},
    }


async def seed(races: Any) -> list[str]:
    """Existing affiliates (with their base links), two URL offers and one running race."""
    from bot.services.affiliates import AffiliateService, Profile
    from models import Link, Offer, OfferKind
    from tests.factories import race_draft

    for k in range(2):
        await Offer.create(
            title=f"Shop {k}",
            kind=OfferKind.URL,
            target_url="https://adv.example/land?cid={click_id}",
            payout_minor=250,
            currency="USD",
            secret="s3cret",
            token=f"tok-{k}",
        )
    service = AffiliateService()
    for k in range(EXISTING):
        await service.load_or_create(Profile(tg_id=USER_BASE + k, first_name=f"U{k}"))
    await races.create(race_draft(title="Winter cup"))
    await races.start_due()
    # an affiliate's referral code is their base link's (the bot link, no offer)
    codes = await Link.filter(offer_id=None).limit(200).values_list("code", flat=True)
    return [str(code) for code in codes]


@dataclass
class Result:
    updates: int
    concurrency: int
    existing: int = EXISTING
    webhook: dict[str, Any] = field(default_factory=dict)
    bare: dict[str, Any] = field(default_factory=dict)
    bare_http: dict[str, Any] = field(default_factory=dict)
    replies_per_update: float = 0.0
    errors_logged: int = 0

    @property
    def ratio(self) -> float:
        bare = self.bare.get("rate", 0.0)
        return self.webhook.get("rate", 0.0) / bare if bare else 0.0

    @property
    def ok(self) -> bool:
        return self.ratio >= TARGET_RATIO and self.webhook.get("statuses") == {"200": self.updates}


async def serve(runner: Any, port: int) -> None:
    from aiohttp import web

    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()


async def bench(args: argparse.Namespace, workdir: Path) -> Result:
    import gc

    from aiohttp import web
    from loguru import logger

    from bot import db
    from bot.config import Settings
    from bot.factory import (
        create_app,
        create_bot,
        create_dispatcher,
        create_services,
        resolve_bot_identity,
    )
    from bot.logging import setup_logging
    from bot.redis import create_redis
    from tests.mocked_bot import MockedSession

    setup_logging("WARNING")
    errors: list[str] = []
    logger.add(lambda m: errors.append(str(m)), level="ERROR")
    cpus = sorted(os.sched_getaffinity(0))
    pin = len(cpus) >= 2 and not args.no_pin
    server_cpu, client_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    if server_cpu is not None:
        os.sched_setaffinity(0, {server_cpu})
    await recreate_database(args.pg_url)
    await db.migrate(args.pg_url)
    await db.init(args.pg_url)
    port, bare_port = free_port(), free_port()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        BOT_TOKEN=FAKE_TOKEN,
        DATABASE_URL=args.pg_url,
        REDIS_URL=args.redis_url,
        WEBHOOK_URL="https://bench.example/webhook",
        WEBHOOK_SECRET=SECRET,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        CHANNEL_PREFIX=f"benchwh{os.getpid()}",
        DATA_DIR=str(workdir),
        REFERRAL_NOTIFY_DELAY=3600,  # the notifier's timers never fire during the run
    )
    redis = create_redis(args.redis_url)
    session = MockedSession()
    bot = create_bot(settings, session=session)
    services = create_services(settings, bot, redis)
    dp = create_dispatcher(settings, redis, services)
    await resolve_bot_identity(bot, settings, services)
    runner = web.AppRunner(create_app(settings, bot, dp, redis, services), access_log=None)
    bare_dp = bare_dispatcher()
    bare_bot = create_bot(settings, session=MockedSession())
    bare_runner = web.AppRunner(bare_app(bare_dp, bare_bot), access_log=None)
    result = Result(args.updates, args.concurrency)
    try:
        log(f"seeding {EXISTING:,} affiliates, 2 offers, a running race")
        codes = await seed(services.races)
        await serve(runner, port)
        await serve(bare_runner, bare_port)
        gc.collect()
        gc.freeze()
        rng = random.Random(14)
        warm = mix(args.warmup, 1, codes, rng)
        updates = mix(args.updates, 1_000_000, codes, rng)
        url, bare_url = f"http://127.0.0.1:{port}/webhook", f"http://127.0.0.1:{bare_port}/webhook"
        await load(url, warm, args.concurrency, client_cpu, workdir)
        await feed_bare(bare_dp, bare_bot, warm, args.concurrency)
        log(f"warmed up with {args.warmup} updates each")
        session.requests.clear()
        errors.clear()
        result.bare = await feed_bare(bare_dp, bare_bot, updates, args.concurrency)
        log(f"bare: {result.bare['rate']:,.0f} updates/s")
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        result.webhook = await load(url, updates, args.concurrency, client_cpu, workdir)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
            log(f"webhook: cProfile written to {args.profile} (it slowed this run)")
        log(f"webhook: {result.webhook['rate']:,.0f} updates/s {result.webhook['statuses']}")
        result.replies_per_update = len(session.requests) / len(updates)
        result.errors_logged = len(errors)
        again = mix(args.updates, 1_000_000, codes, random.Random(15))
        result.bare_http = await load(bare_url, again, args.concurrency, client_cpu, workdir)
        log(f"bare over HTTP: {result.bare_http['rate']:,.0f} updates/s")
    finally:
        await runner.cleanup()
        await bare_runner.cleanup()
        await services.click_loader.close()
        await bot.session.close()
        await redis.aclose()
        await db.close()
    return result


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def report(r: Result) -> list[str]:
    lines = [
        "| case | updates/s | p50 / p99 ms | server CPU | answers |",
        "|---|---:|---:|---:|---|",
    ]
    for name, case in (
        ("webhook, full app (judged)", r.webhook),
        ("bare Dispatcher, feed_update (baseline)", r.bare),
        ("bare Dispatcher behind a bare aiohttp route", r.bare_http),
    ):
        lines.append(
            f"| {name} | {case['rate']:,.0f} | {case['p50_ms']:.1f} / {case['p99_ms']:.1f} | "
            f"{case['server_cpu']:.0%} | {case['statuses']} |"
        )
    lines.append("")
    lines.append(
        f"ratio webhook/bare = {r.ratio:.3f} (target >= {TARGET_RATIO:g}): **{verdict(r.ok)}**; "
        f"{r.updates:,} updates, {r.concurrency} in flight; Bot API calls the handlers made: "
        f"{r.replies_per_update:.2f} per update; errors logged: {r.errors_logged}"
    )
    http = r.bare_http.get("rate", 0.0)
    if http:
        lines.append(f"webhook/(bare over HTTP) = {r.webhook['rate'] / http:.3f}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=6000, help="updates per case (6000)")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up updates (500)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight (32)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the server over the webhook run"
    )
    parser.add_argument("--_client", dest="client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.client:
        refuse_shared_redis(parser, args.redis_url)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client:
        return client_main(args)
    with tempfile.TemporaryDirectory(prefix="affrace-bench-wh-") as tmp:
        result = asyncio.run(bench(args, Path(tmp)))
    print()
    for line in report(result):
        print(line)
    if args.json:
        data = {**asdict(result), "ratio": result.ratio, "ok": result.ok}
        Path(args.json).write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
