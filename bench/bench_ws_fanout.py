"""Live board fan-out: 10,000 WebSocket clients on one race's live board, the time from a
tick to each client's update.

    .venv/bin/python bench/bench_ws_fanout.py [--clients 10000] [--ticks 3] [--deflate]
        [--json FILE]

The server is the project's own app (create_app, as `python -m bot run` builds it) on CPU 0,
on PostgreSQL (`affrace_bench_ws`, made anew) and a real Redis (db 14, its own channel prefix):
one running race whose N participants (affiliates and entries loaded with COPY; the board
built by `start_due()`) each open `/ws/races/{id}?auth=<initData>` (signed as
tests/miniapp.py signs it). The clients are split over `--procs` child processes on CPU 1,
each an aiohttp client holding its share of the sockets (the fd limit is raised to the hard
limit everywhere). Two things keep the clients from counting in what is measured: once its
sockets are open, a client process freezes them out of its garbage collector (a full
collection of them took each client process ~0.4 s of CPU 1 in the middle of a tick: the
clients used 1.1 s of CPU in that tick instead of 0.25 s, which showed as the server's
latency), and every socket stays open until the server says stop (sockets closing after
their last update made the server answer thousands of closes while its last tick was still
being sent).

aiohttp's client does not offer permessage-deflate and browsers do: `--deflate` has the
clients offer it, so that the server compresses every update as it would for a browser.

Each measured tick is what the scheduler's job does: 1 % of the entries get new scores, then
`races.tick(race)` and `feed.publish(race.id)`; the feed's pub/sub message reaches
`bot/live.py RaceFeed`, whose listener (bot/web/api/live.py Boards.changed) sends every viewer
the race card as they see it. The clock starts before `races.tick()`; each client notes
(CLOCK_MONOTONIC, shared by the processes) when its update arrives. Target: p99 over all
clients' updates <= 1 s (the last client's time is shown too). There is no baseline with a
meaning here: the figure is absolute.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (
    FAKE_TOKEN,
    MOVE_SQL,
    copy_race_entries,
    log,
    percentile,
    pinned,
    recreate_database,
    refuse_shared_redis,
    verdict,
)

SCRIPT = Path(__file__).resolve()
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/affrace_bench_ws"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
TARGET_P99_S = 1.0
TG_ID_BASE = 7_500_000_000


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --------------------------------------------------------------------------- clients


def client_main(args: argparse.Namespace) -> int:
    """Hold sockets for tg ids [first, first+count); note when each card after the first
    arrives; write them out once the server says stop (or on timeout)."""
    import aiohttp

    from tests.miniapp import init_data

    raise_fd_limit()
    got: list[list[float]] = [[] for _ in range(args.count)]
    opening: list[tuple[float, float]] = []  # (upgrade answered, first card) seconds
    connected = 0

    async def hold(i: int, http: aiohttp.ClientSession, gate: asyncio.Semaphore) -> None:
        nonlocal connected
        tg_id = TG_ID_BASE + args.first + i
        auth = init_data(tg_id, token=FAKE_TOKEN, first_name=f"Racer {args.first + i}")
        url = f"{args.url}?{urlencode_auth(auth)}"
        async with gate:
            started = time.monotonic()
            ws = await http.ws_connect(
                url, heartbeat=None, max_msg_size=0, compress=15 if args.deflate else 0
            )
            upgraded = time.monotonic()
            first = await ws.receive()
            opening.append((upgraded - started, time.monotonic() - upgraded))
            if first.type is not aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"{tg_id}: {first.type} {first.data!r}")
            connected += 1
            if connected == args.count:
                # the sockets' objects out of the collector's way: a full collection of them
                # cost this process ~0.4 s of CPU in the middle of a tick (see the docstring)
                gc.collect()
                gc.freeze()
                print("connected", flush=True)
        # held open until the server says stop: sockets closing after their last update
        # would make the server answer thousands of closes while its last tick still sends
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                got[i].append(time.monotonic())

    async def go() -> None:
        gate = asyncio.Semaphore(args.connect_concurrency)
        connector = aiohttp.TCPConnector(limit=0)
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(connector=connector) as http:
            tasks = [asyncio.create_task(hold(i, http, gate)) for i in range(args.count)]
            # the server says "stop" on stdin once its ticks are over (updates that never
            # came are then counted as missing)
            stop = loop.run_in_executor(None, sys.stdin.readline)
            every = asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.wait(
                [every, stop], timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            failures = [r for r in results if isinstance(r, Exception)]
            if failures:
                print(f"failures: {len(failures)}, e.g. {failures[0]!r}", file=sys.stderr)

    asyncio.run(go())
    Path(args.result).write_text(json.dumps({"got": got, "opening": opening}))
    return 0


def urlencode_auth(auth: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"auth": auth})


# --------------------------------------------------------------------------- server


async def load(conn: Any, race: Any, n: int, rng: random.Random) -> None:
    """COPY n affiliates and their n entries in `race`."""
    now = datetime.now(UTC)
    await conn.copy_records_to_table(
        "affiliate",
        # as the clients' initData describes them (so opening a socket writes nothing)
        records=[
            (i, TG_ID_BASE + i - 1, f"Racer {i - 1}", "en", now, now, now) for i in range(1, n + 1)
        ],
        columns=[
            "id",
            "tg_id",
            "first_name",
            "tg_language",
            "seen_at",
            "created_at",
            "updated_at",
        ],
    )
    records = [
        (i, race.id, i, rng.randint(0, 1000), 0, race.starts_at + timedelta(seconds=i), now)
        for i in range(1, n + 1)
    ]
    await copy_race_entries(conn, records)
    await conn.execute("SELECT setval(pg_get_serial_sequence('affiliate', 'id'), $1)", n)
    await conn.execute("SELECT setval(pg_get_serial_sequence('race_entry', 'id'), $1)", n)
    await conn.execute("VACUUM ANALYZE affiliate")
    await conn.execute("VACUUM ANALYZE race_entry")


async def tick_once(races: Any, race: Any, timeout: float) -> bool:
    """races.tick(), retried while the app's database breaker is open (it opens when the
    fan-out's own queries time out waiting for the pool)."""
    from bot.errors import Unavailable

    deadline = time.monotonic() + timeout
    while True:
        try:
            return bool((await races.tick(race)).changed)
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            log("   races.tick(): the database breaker is open, retrying")
            await asyncio.sleep(0.5)


async def start_clients(args: argparse.Namespace, url: str, workdir: Path, cpu: int | None) -> Any:
    per = -(-args.clients // args.procs)
    procs = []
    for p in range(args.procs):
        first, count = p * per, min(per, args.clients - p * per)
        if count <= 0:
            break
        cmd = [sys.executable, str(SCRIPT), "--_client", "--url", url, "--first", str(first)]
        cmd += ["--count", str(count), "--ticks", str(args.ticks), "--timeout", str(args.timeout)]
        cmd += ["--result", str(workdir / f"client-{p}.json")]
        cmd += ["--connect-concurrency", str(args.connect_concurrency)]
        cmd += ["--deflate"] if args.deflate else []
        procs.append(
            await asyncio.create_subprocess_exec(
                *pinned(cmd, cpu), stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        )
    return procs


async def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import asyncpg
    from aiohttp import web

    from bot import db
    from bot.config import Settings
    from bot.factory import create_app, create_bot, create_dispatcher, create_services
    from bot.logging import setup_logging
    from bot.redis import create_redis
    from models import Race
    from tests.factories import race_draft

    setup_logging("WARNING")
    fd_limit = raise_fd_limit()
    cpus = sorted(os.sched_getaffinity(0))
    pin = len(cpus) >= 2 and not args.no_pin
    server_cpu, client_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    if server_cpu is not None:
        os.sched_setaffinity(0, {server_cpu})
    await recreate_database(args.pg_url)
    await db.migrate(args.pg_url)
    await db.init(args.pg_url)
    port = free_port()
    settings = Settings(
        _env_file=None,
        BOT_TOKEN=FAKE_TOKEN,
        DATABASE_URL=args.pg_url,
        REDIS_URL=args.redis_url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        CHANNEL_PREFIX=f"benchws{os.getpid()}",
        DATA_DIR=str(workdir),
    )
    redis = create_redis(args.redis_url)
    bot = create_bot(settings)
    services = create_services(settings, bot, redis)
    app = create_app(settings, bot, create_dispatcher(settings, redis, services), redis, services)
    runner = web.AppRunner(app, access_log=None)
    conn = await asyncpg.connect(args.pg_url.split("?")[0])
    procs: list[Any] = []
    out: dict[str, Any] = {"clients": args.clients, "procs": args.procs, "fd_limit": fd_limit}
    try:
        races = services.races
        now = datetime.now(UTC)
        # created to start in an hour (a start in the past is refused), then moved back a day
        # and started by start_due() once the entries are in (which builds the board)
        race = await races.create(
            race_draft(
                title="Live cup",
                starts_at=now + timedelta(hours=1),
                ends_at=now + timedelta(days=2),
            )
        )
        race.starts_at = now - timedelta(days=1)
        await Race.filter(id=race.id).update(starts_at=race.starts_at)
        rng = random.Random(14)
        await load(conn, race, args.clients, rng)
        started = await races.start_due()
        log(f"race {race.id}: {args.clients:,} participants loaded, {len(started)} started")
        services.feed.start()
        await asyncio.wait_for(services.feed.subscribed.wait(), 10)
        sent = asyncio.Event()

        async def after_send(_race_id: int) -> None:
            sent.set()

        services.feed.listeners.append(after_send)  # runs once Boards.changed has sent to all
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
        url = f"http://127.0.0.1:{port}/ws/races/{race.id}"
        connect_started = time.monotonic()
        procs = await start_clients(args, url, workdir, client_cpu)
        for proc in procs:
            line = await asyncio.wait_for(proc.stdout.readline(), args.timeout)
            if line.strip() != b"connected":
                raise RuntimeError("a client process did not connect all its sockets")
        out["connect_s"] = time.monotonic() - connect_started
        log(f"{args.clients:,} clients connected in {out['connect_s']:.1f} s")
        await asyncio.sleep(1)
        ticks: list[dict[str, float]] = []
        ids = list(range(1, args.clients + 1))
        for _ in range(args.ticks):
            moved = rng.sample(ids, max(1, args.clients // 100))
            deltas = [rng.randint(1, 50) for _ in moved]
            await conn.execute(MOVE_SQL, moved, deltas, datetime.now(UTC))
            sent.clear()
            t0 = time.monotonic()
            changed = await tick_once(races, race, args.timeout)
            t_tick = time.monotonic()
            await services.feed.publish(race.id)
            await asyncio.wait_for(sent.wait(), args.timeout)
            t_sent = time.monotonic()
            ticks.append(
                {"t0": t0, "tick_s": t_tick - t0, "sent_s": t_sent - t0, "changed": changed}
            )
            log(f"tick: {t_tick - t0:.3f} s, all sent after {t_sent - t0:.2f} s")
            await asyncio.sleep(2)
        for proc in procs:
            proc.stdin.write(b"stop\n")
            await proc.stdin.drain()
        for proc in procs:
            await asyncio.wait_for(proc.wait(), args.timeout)
        got: list[list[float]] = []
        opening: list[list[float]] = []
        for p in range(len(procs)):
            part = json.loads((workdir / f"client-{p}.json").read_text())
            got.extend(part["got"])
            opening.extend(part["opening"])
        out.update(figures(got, ticks))
        upgrades, cards = sorted(o[0] for o in opening), sorted(o[1] for o in opening)
        out["upgrade_p50_s"], out["upgrade_p99_s"] = (
            percentile(upgrades, 50),
            percentile(upgrades, 99),
        )
        out["first_card_p50_s"] = percentile(cards, 50)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await conn.close()
        await runner.cleanup()
        await services.feed.close()
        await services.click_loader.close()
        await bot.session.close()
        await redis.aclose()
        await db.close()
    return out


def figures(got: list[list[float]], ticks: list[dict[str, float]]) -> dict[str, Any]:
    """Each update a client got is the answer to the latest tick started before it arrived."""
    starts = [t["t0"] for t in ticks]
    lat: list[list[float]] = [[] for _ in ticks]
    for times in got:
        for arrived in times:
            k = bisect.bisect_right(starts, arrived) - 1
            if k >= 0:
                lat[k].append(arrived - starts[k])
    per_tick = []
    everything: list[float] = []
    for tick, seen in zip(ticks, lat, strict=True):
        seen.sort()
        everything.extend(seen)
        per_tick.append(
            {
                **tick,
                "received": len(seen),
                "p50_s": percentile(seen, 50),
                "p99_s": percentile(seen, 99),
                "last_s": seen[-1] if seen else 0.0,
            }
        )
    everything.sort()
    missing = len(got) * len(ticks) - len(everything)
    # a missing update counts as never arriving: the p99 is over every client and tick
    p99 = percentile(everything + [math.inf] * missing, 99)
    return {
        "ticks": per_tick,
        "missing": missing,
        "p50_s": percentile(everything, 50),
        "p99_s": p99,
        "last_s": max((t["last_s"] for t in per_tick), default=0.0),
        "tick_median_s": statistics.median(t["tick_s"] for t in ticks) if ticks else 0.0,
        "ok": bool(everything) and missing == 0 and p99 <= TARGET_P99_S,
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def report(out: dict[str, Any]) -> list[str]:
    lines = [
        f"{out['clients']:,} clients over {out['procs']} processes (fd limit {out['fd_limit']:,});"
        f" all connected in {out['connect_s']:.1f} s (upgrade answered p50 "
        f"{out['upgrade_p50_s'] * 1e3:.0f} ms, p99 {out['upgrade_p99_s'] * 1e3:.0f} ms; "
        f"first card after it p50 {out['first_card_p50_s'] * 1e3:.0f} ms)",
        "",
        "| tick | races.tick() | server sent to all | received | p50 | p99 | last client |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, t in enumerate(out["ticks"], 1):
        lines.append(
            f"| {k} | {t['tick_s'] * 1e3:.0f} ms | {t['sent_s']:.2f} s | {t['received']:,} | "
            f"{t['p50_s']:.2f} s | {t['p99_s']:.2f} s | {t['last_s']:.2f} s |"
        )
    lines.append("")
    lines.append(
        f"all ticks: p50 {out['p50_s']:.2f} s, p99 {out['p99_s']:.2f} s, last client "
        f"{out['last_s']:.2f} s, updates missing {out['missing']} (target p99 <= "
        f"{TARGET_P99_S:g} s): **{verdict(out['ok'])}**"
    )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000, help="WebSocket clients (10000)")
    parser.add_argument("--procs", type=int, default=2, help="client processes (2)")
    parser.add_argument("--ticks", type=int, default=3, help="measured ticks (3)")
    parser.add_argument("--connect-concurrency", type=int, default=25, help=argparse.SUPPRESS)
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="clients offer permessage-deflate, as browsers do (aiohttp's client does not)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for any step")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--_client", dest="client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.client:
        refuse_shared_redis(parser, args.redis_url)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client:
        return client_main(args)
    with tempfile.TemporaryDirectory(prefix="affrace-bench-ws-") as tmp:
        out = asyncio.run(bench(args, Path(tmp)))
    print()
    for line in report(out):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
