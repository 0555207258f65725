"""Outbox throughput: the paced sender (bot/telegram/sender.py OutboxSender over the outbox
table) against a local Bot API that enforces Telegram's limits, and answers 429 with
retry_after when one is exceeded.

    .venv/bin/python bench/bench_outbox.py [--duration 60] [--paid-duration 15] [--json FILE]

Two runs, each against a fresh stand-in for Telegram (a child process pinned to CPU 1; the
sender runs on CPU 0, PostgreSQL is not pinned):

* **free**: the default setting. Limits 30 messages/s overall (any one-second window) and
  1/s per chat. The outbox holds more bulk rows than the run can send, four per chat,
  interleaved, so both limits bind. Target: >= 29 msg/s sustained over the run, zero 429s.
* **paid**: PAID_BROADCAST=true (the sender is built with `paid=True`, as create_services does
  with that setting): bulk rows go with allow_paid_broadcast, and the stand-in allows those
  1000/s overall (the per-chat limit still holds). One row per chat. Target: >= 900 msg/s.

The baseline of each ratio is the limit itself. "sent" is what the stand-in accepted, "recorded"
the outbox rows marked sent in the database; they must be equal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common import FAKE_TOKEN, log, pinned, recreate_database, verdict

SCRIPT = Path(__file__).resolve()
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/affrace_bench_outbox"
FREE_LIMIT = 30
PAID_LIMIT = 1000
FREE_TARGET = 29.0
PAID_TARGET = 900.0
CHAT_BASE = 8_000_000_000


# --------------------------------------------------------------------------- the stand-in


@dataclass
class Limits:
    """Telegram's flood limits as the stand-in enforces them."""

    overall: int
    paid: int
    per_chat: float = 1.0
    accepted: deque[float] = field(default_factory=deque)
    paid_accepted: deque[float] = field(default_factory=deque)
    last: dict[str, float] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    refused: int = 0
    refused_chat: int = 0
    paid_sent: int = 0

    def admit(self, chat: str, paid: bool, now: float) -> str | None:
        """None when the message may go, else why not (and it counts as a 429)."""
        window, limit = (self.paid_accepted, self.paid) if paid else (self.accepted, self.overall)
        while window and now - window[0] >= 1.0:
            window.popleft()
        last = self.last.get(chat)
        if last is not None and now - last < self.per_chat:
            self.refused_chat += 1
            return "per chat"
        if len(window) >= limit:
            self.refused += 1
            return "overall"
        window.append(now)
        self.last[chat] = now
        self.times.append(now)
        self.paid_sent += paid
        return None


def api_main(port: int, overall: int, paid: int) -> int:
    from aiohttp import web

    limits = Limits(overall, paid)
    message_ids = iter(range(1, 10**9))

    async def method(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        form = await request.post()
        if name == "getMe":
            user = {"id": 424242, "is_bot": True, "first_name": "Affrace", "username": "b_bot"}
            return web.json_response({"ok": True, "result": user})
        if name not in ("sendMessage", "sendPhoto"):
            return web.json_response({"ok": True, "result": True})
        chat = str(form.get("chat_id"))
        paid_flag = str(form.get("allow_paid_broadcast", "")).lower() == "true"
        why = limits.admit(chat, paid_flag, time.monotonic())
        if why is not None:
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after 1 ({why})",
                    "parameters": {"retry_after": 1},
                },
                status=429,
            )
        result = {
            "message_id": next(message_ids),
            "date": int(time.time()),
            "chat": {"id": int(chat), "type": "private"},
            "text": str(form.get("text", "")),
        }
        return web.json_response({"ok": True, "result": result})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "times": limits.times,
                "refused_overall": limits.refused,
                "refused_chat": limits.refused_chat,
                "paid_sent": limits.paid_sent,
            }
        )

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", method)
    app.router.add_get("/stats", stats)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def stand_in(overall: int, paid: int, cpu: int | None) -> Any:
    port = free_port()
    cmd = [sys.executable, str(SCRIPT), "--_api", "--port", str(port)]
    cmd += ["--overall", str(overall), "--paid", str(paid)]
    proc = subprocess.Popen(pinned(cmd, cpu), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the Bot API stand-in did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


# --------------------------------------------------------------------------- the sender


@dataclass
class Run:
    mode: str
    limit: int
    target: float
    duration: float
    queued: int = 0
    chats: int = 0
    sent: int = 0  # accepted by the stand-in
    recorded: int = 0  # outbox rows marked sent without an error
    delivered: int = 0  # what drain() returned
    refused_overall: int = 0
    refused_chat: int = 0
    paid_sent: int = 0
    rate: float = 0.0  # sent / duration
    steady_min: int = 0  # the fewest accepted in a whole second (first and last left out)
    steady_max: int = 0
    elapsed: float = 0.0

    @property
    def refused(self) -> int:
        return self.refused_overall + self.refused_chat

    @property
    def ok(self) -> bool:
        return self.rate >= self.target and self.refused == 0 and self.sent == self.recorded


async def run_mode(mode: str, args: argparse.Namespace, api_cpu: int | None) -> Run:
    from aiohttp import ClientSession

    from bot.config import Settings
    from bot.factory import create_bot
    from bot.services.affiliates import AffiliateService
    from bot.services.outbox import Letter, OutboxService
    from bot.telegram.sender import OutboxSender
    from models import Outbox

    paid = mode == "paid"
    duration = args.paid_duration if paid else args.duration
    limit = PAID_LIMIT if paid else FREE_LIMIT
    run = Run(mode, limit, PAID_TARGET if paid else FREE_TARGET, duration)
    if paid:  # one row per chat: only the overall paid limit binds
        run.queued = int(PAID_LIMIT * duration * 1.3)
        run.chats = run.queued
    else:  # four rows per chat, interleaved: both limits bind
        run.queued = int(FREE_LIMIT * duration * 1.3)
        run.chats = max(1, run.queued // 4)
    await Outbox.all().delete()
    outbox = OutboxService()
    letters = [
        Letter(
            key=f"bench:{mode}:{i}",
            chat_id=CHAT_BASE + i % run.chats,
            text=f"Race news #{i}: you moved up to <b>#{i % 97 + 1}</b>",
        )
        for i in range(run.queued)
    ]
    for start in range(0, len(letters), 5000):
        await outbox.enqueue(letters[start : start + 5000])
    log(f"{mode}: queued {run.queued:,} rows for {run.chats:,} chats")
    with stand_in(FREE_LIMIT, PAID_LIMIT, api_cpu) as api_url:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            BOT_TOKEN=FAKE_TOKEN,
            DATABASE_URL=args.pg_url,
            BOT_API_URL=api_url,
            PAID_BROADCAST=paid,
        )
        bot = create_bot(settings)
        sender = OutboxSender(bot, outbox, AffiliateService(), paid=settings.PAID_BROADCAST)
        try:
            started = time.monotonic()
            run.delivered = await sender.drain(seconds=duration)
            run.elapsed = time.monotonic() - started
        finally:
            await sender.close()
            await bot.session.close()
        async with ClientSession() as http, http.get(f"{api_url}/stats") as resp:
            stats = await resp.json()
    times = [t for t in stats["times"] if started <= t <= started + duration]
    run.sent = len(stats["times"])
    run.refused_overall = int(stats["refused_overall"])
    run.refused_chat = int(stats["refused_chat"])
    run.paid_sent = int(stats["paid_sent"])
    run.rate = len(times) / duration
    per_second = [0] * int(duration)
    for t in times:
        second = int(t - started)
        if second < len(per_second):
            per_second[second] += 1
    inner = per_second[1:-1] or per_second
    run.steady_min, run.steady_max = min(inner), max(inner)
    run.recorded = await Outbox.filter(sent_at__isnull=False, error__isnull=True).count()
    return run


def report(runs: list[Run]) -> list[str]:
    lines = [
        "| mode | limit msg/s | sent msg/s (ratio to the limit) | per-second min-max | 429s "
        "(overall / per chat) | sent = recorded | target | verdict |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for r in runs:
        target = f">= {r.target:g} msg/s over {r.duration:g} s, no 429"
        lines.append(
            f"| {r.mode} | {r.limit:,} | {r.rate:,.1f} ({r.rate / r.limit:.3f}) | "
            f"{r.steady_min}-{r.steady_max} | {r.refused_overall} / {r.refused_chat} | "
            f"{r.sent:,} = {r.recorded:,}: {'MATCH' if r.sent == r.recorded else 'MISMATCH'} | "
            f"{target} | **{verdict(r.ok)}** |"
        )
    return lines


async def bench(args: argparse.Namespace) -> list[Run]:
    from bot import db
    from bot.logging import setup_logging

    setup_logging("ERROR")  # the sender logs each 429 as a warning
    cpus = sorted(os.sched_getaffinity(0))
    sender_cpu, api_cpu = (
        (cpus[0], cpus[1]) if len(cpus) >= 2 and not args.no_pin else (None, None)
    )
    if sender_cpu is not None:
        os.sched_setaffinity(0, {sender_cpu})
    await recreate_database(args.pg_url)
    await db.migrate(args.pg_url)
    await db.init(args.pg_url)
    try:
        return [await run_mode(mode, args, api_cpu) for mode in args.modes]
    finally:
        await db.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="free mode seconds (60)")
    parser.add_argument("--paid-duration", type=float, default=15.0, help="paid seconds (15)")
    parser.add_argument("--modes", default="free,paid", help="free,paid")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--_api", dest="api", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--overall", type=int, default=FREE_LIMIT, help=argparse.SUPPRESS)
    parser.add_argument("--paid", type=int, default=PAID_LIMIT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or set(args.modes) - {"free", "paid"}:
        parser.error("--modes takes free, paid or both")
    if args.duration < 3 or args.paid_duration < 3:
        parser.error("durations must be >= 3 s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.api:
        return api_main(args.port, args.overall, args.paid)
    runs = asyncio.run(bench(args))
    print()
    for line in report(runs):
        print(line)
    if any(r.mode == "paid" for r in runs):
        print(
            "\npaid mode: PAID_BROADCAST=true in bot/config.py; the sender then sends bulk rows "
            "with allow_paid_broadcast under a 1000/s pacer (bot/telegram/sender.py PAID_RATE)"
        )
    if args.json:
        data = [{**asdict(r), "refused": r.refused, "ok": r.ok} for r in runs]
        Path(args.json).write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
