#!/usr/bin/env python3
"""Benchmark the tracked click redirect `GET /r/{code}` against a bare aiohttp 302.

Both are served by real aiohttp servers on 127.0.0.1 in one process (the "server", pinned
to one core), one after the other, and loaded by the same load generator in another
process (pinned to the other core): `wrk` when it is installed, else a Python aiohttp
client. Each database case (a temp-file SQLite, then PostgreSQL when reachable) runs in its
own child process so that tortoise and the in-process fakeredis start clean.

The tracked app is the project's own: Settings -> db.migrate/init -> create_redis ->
create_bot -> create_services -> create_dispatcher -> create_app, with 100 links to URL
offers, and its click loader running as `python -m bot run` starts it. The redirect appends
the click to the spool and answers; the loader stores it in the background. The load
generator stops gracefully (no new request after the deadline, waits for every answer), and
once the loader has caught up (the time it took is printed) the rows added to `click` must
equal the 302s received. Then the loader's own throughput is measured on a full spool.

    .venv/bin/python bench/bench_redirect.py [--duration 10] [--db both|sqlite|pg]

Traffic goes to 127.0.0.1 only, and every run is bounded by --duration (plus a grace).
Exit status: 0 unless something crashed; PASS/FAIL against the targets is only printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from aiogram import Bot
    from aiohttp import web
    from redis.asyncio import Redis

from common import (
    FAKE_TOKEN,
    ROOT,
    log,
    percentile,
    pinned,
)

SCRIPT = Path(__file__).resolve()

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/affrace_bench"
TARGET_TEMPLATE = "https://adv.example/land?cid={click_id}&s={sub}&a={affiliate_id}"
BARE_LOCATION = "https://adv.example/land?cid=bare&s="
SUB_LABEL = "tg"
SATURATED = 0.75  # load generator CPU share above which its figures are suspect
SATURATED_PY = 0.5  # the same for the Python client, whose own latency limits it earlier
STARVED = 0.8  # bare server CPU share below which something else was using the machine
HARD_GRACE = 10  # seconds a load run may overrun its deadline before wrk is cut off
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
)
BOT_AGENT = "TelegramBot (like TwitterBot)"


# --------------------------------------------------------------------------- requests


# (path, User-Agent, fresh): a fresh entry gets a never-seen agent each time it is sent
Mix = list[tuple[str, str, bool]]


def request_mix(codes: list[str], seed: int = 7) -> Mix:
    """Six requests per link: 1 from a new visitor, 4 from returning ones (1 of them with a
    sub label), and 1 from a returning visitor or, half the time, a link-preview bot."""
    rng = random.Random(seed)
    mix: Mix = []
    for code in codes:
        for n in range(6):
            ua = f"{rng.choice(BROWSERS)} v{rng.randrange(40)}"
            if n == 5 and rng.random() < 0.5:
                ua = BOT_AGENT
            path = f"/r/{code}/{SUB_LABEL}" if n == 4 else f"/r/{code}"
            mix.append((path, ua, n == 0))
    rng.shuffle(mix)
    return mix


def run_nonce() -> str:
    return f"{random.randrange(36**6):06x}"


# --------------------------------------------------------------------------- load results


@dataclass
class LoadResult:
    """What one load run saw from the client side."""

    tool: str
    sent: int
    received: int
    status: dict[str, int]
    errors: int
    elapsed: float
    p50_ms: float
    p99_ms: float
    loadgen_cpu: float
    server_cpu: float = 0.0
    stall_max_ms: float = 0.0  # the event loop's longest stall during the run
    stalls_over_10ms: int = 0
    gc_ms: float = 0.0  # time in the garbage collector during the run

    @property
    def redirects(self) -> int:
        return self.status.get("302", 0)

    @property
    def in_flight(self) -> int:
        """Requests sent whose answer never came (0 after a graceful stop)."""
        return self.sent - self.received

    @property
    def rps(self) -> float:
        return self.received / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        """Server CPU time per answered request, in microseconds."""
        return self.server_cpu * self.elapsed / self.received * 1e6 if self.received else 0.0


def summarize(runs: list[LoadResult]) -> dict[str, Any]:
    """Medians over rounds of the figures, sums of the counts, and every round's req/s."""

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    status: Counter[str] = Counter()
    for run in runs:
        status.update(run.status)
    return {
        "tool": runs[0].tool,
        "rounds": [round(run.rps, 1) for run in runs],
        "rps": median([run.rps for run in runs]),
        "p50_ms": median([run.p50_ms for run in runs]),
        "p99_ms": median([run.p99_ms for run in runs]),
        "server_cpu": median([run.server_cpu for run in runs]),
        "loadgen_cpu": median([run.loadgen_cpu for run in runs]),
        "cpu_us": median([run.cpu_us for run in runs]),
        "sent": sum(run.sent for run in runs),
        "received": sum(run.received for run in runs),
        "status": dict(status),
        "errors": sum(run.errors for run in runs),
        "in_flight": sum(run.in_flight for run in runs),
    }


# --------------------------------------------------------------------------- wrk


LUA_TEMPLATE = r"""-- made by bench/bench_redirect.py: rotate paths and agents, stop gracefully
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_ts;
int clock_gettime(int clk, bench_ts *ts);
int kill(int pid, int sig);
int getpid(void);
]]
local ts = ffi.new("bench_ts")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local MIX = {
%(mix)s
}
local threads = {}
local reqs, fresh, n, i, deadline, nonce

function setup(thread)
  -- wrk calls request() once on the first thread to check it: do not count that one
  if #threads == 0 then thread:set("skip_first", true) end
  table.insert(threads, thread)
end

function init(args)
  reqs, fresh = {}, {}
  for k, item in ipairs(MIX) do
    reqs[k] = wrk.format("GET", item[1], {["User-Agent"] = item[2]})
    fresh[k] = item[3]
  end
  n = #reqs
  i = 0
  sent, got, s302, sother, t_first, t_last = 0, 0, 0, 0, 0, 0
  deadline = now() + tonumber(args[1])
  nonce = args[2]
end

function request()
  if skip_first then
    skip_first = false
    return reqs[1]
  end
  local t = now()
  if t >= deadline then
    return ""  -- park the connection: nothing is sent, no answer is awaited
  end
  if sent == 0 then t_first = t end
  sent = sent + 1
  i = i %% n + 1
  if fresh[i] then
    local ua = MIX[i][2] .. " n" .. nonce .. "-" .. sent
    return wrk.format("GET", MIX[i][1], {["User-Agent"] = ua})
  end
  return reqs[i]
end

function response(status, headers, body)
  got = got + 1
  if status == 302 then s302 = s302 + 1 else sother = sother + 1 end
  if got == sent then
    local t = now()
    if t >= deadline then
      t_last = t
      wrk.thread:stop()
      ffi.C.kill(ffi.C.getpid(), 2)  -- SIGINT ends wrk's main sleep early
    end
  end
end

function done(summary, latency, requests)
  local s, g, r, o, first, last = 0, 0, 0, 0, nil, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent"); g = g + t:get("got")
    r = r + t:get("s302"); o = o + t:get("sother")
    local tf, tl = t:get("t_first"), t:get("t_last")
    if first == nil or tf < first then first = tf end
    if tl > last then last = tl end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"sent": %%d, "received": %%d, "s302": %%d, "sother": %%d, "first": %%.6f, ' ..
    '"last": %%.6f, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "errors": %%d}\n',
    s, g, r, o, first or 0, last, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout))
end
"""


def lua_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_script(mix: Mix) -> str:
    rows = ",\n".join(
        f"  {{{lua_quote(path)}, {lua_quote(ua)}, {'true' if new else 'false'}}}"
        for path, ua, new in mix
    )
    return LUA_TEMPLATE % {"mix": rows}


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_wrk(
    wrk: str,
    base_url: str,
    mix: Mix,
    connections: int,
    duration: float,
    cpu: int | None,
    workdir: Path,
) -> LoadResult:
    script = workdir / "bench.lua"
    script.write_text(lua_script(mix))
    hard = math.ceil(duration) + HARD_GRACE
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{hard}s", "--timeout", "10s"]
    cmd += ["-s", str(script), f"{base_url}/", "--", str(duration), run_nonce()]
    cpu_before = children_cpu()
    proc = await asyncio.create_subprocess_exec(
        *pinned(cmd, cpu), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    cpu_used = children_cpu() - cpu_before
    text = out.decode(errors="replace")
    match = re.search(r"^BENCHJSON (\{.*\})$", text, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text}\n{err.decode()}")
    data = json.loads(match.group(1))
    # data["last"] is 0 when the run never drained and wrk was cut off at its hard limit
    drained = data["last"] > 0
    elapsed = data["last"] - data["first"] if drained else data["duration_us"] / 1e6
    status = {"302": data["s302"]}
    if data["sother"]:
        status["other"] = data["sother"]
    return LoadResult(
        tool="wrk",
        sent=data["sent"],
        received=data["received"],
        status=status,
        errors=data["errors"],
        elapsed=elapsed,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        loadgen_cpu=cpu_used / elapsed if elapsed > 0 else 0.0,
    )


# --------------------------------------------------------------------------- Python client


async def python_client(
    base_url: str, mix: Mix, connections: int, duration: float
) -> dict[str, Any]:
    """`connections` keep-alive workers; none starts a request after the deadline."""
    import aiohttp

    latencies: list[float] = []
    status: Counter[str] = Counter()
    counts = {"sent": 0, "errors": 0}
    n = len(mix)
    nonce = run_nonce()
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    cpu0 = time.process_time()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + duration

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < deadline:
                path, ua, new = mix[i % n]
                i += 1
                counts["sent"] += 1
                if new:
                    ua = f"{ua} n{nonce}-{counts['sent']}"
                t0 = time.perf_counter()
                try:
                    async with session.get(
                        base_url + path, allow_redirects=False, headers={"User-Agent": ua}
                    ) as resp:
                        await resp.read()
                        code = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    counts["errors"] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                status["302" if code == 302 else "other"] += 1

        step = max(1, n // connections)
        await asyncio.gather(*(worker(k * step) for k in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "tool": "python-aiohttp",
        "sent": counts["sent"],
        "received": len(latencies),
        "status": dict(status),
        "errors": counts["errors"],
        "elapsed": elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "loadgen_cpu": (time.process_time() - cpu0) / elapsed if elapsed > 0 else 0.0,
    }


def client_main(args: argparse.Namespace) -> int:
    if args.cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {args.cpu})
    items = json.loads(Path(args.mix_file).read_text())
    mix = [(str(path), str(ua), bool(new)) for path, ua, new in items]
    result = asyncio.run(python_client(args.url, mix, args.connections, args.duration))
    Path(args.result_file).write_text(json.dumps(result))
    return 0


async def run_python_client(
    base_url: str,
    mix: Mix,
    connections: int,
    duration: float,
    cpu: int | None,
    workdir: Path,
) -> LoadResult:
    mix_file = workdir / "mix.json"
    result_file = workdir / "client-result.json"
    mix_file.write_text(json.dumps(mix))
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, str(SCRIPT), "--_client", "--url", base_url]
    cmd += ["--mix-file", str(mix_file), "--result-file", str(result_file)]
    cmd += ["--connections", str(connections), "--duration", str(duration)]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    proc = await asyncio.create_subprocess_exec(*cmd)
    try:
        await asyncio.wait_for(proc.wait(), duration + 30 + HARD_GRACE)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError("the Python load generator did not finish in time") from None
    if proc.returncode != 0 or not result_file.exists():
        raise RuntimeError(f"the Python load generator failed ({proc.returncode})")
    return LoadResult(**json.loads(result_file.read_text()))


# --------------------------------------------------------------------------- one DB case


@dataclass
class CaseConfig:
    name: str
    db_url: str
    redis_url: str | None
    duration: float
    warmup: float
    rounds: int
    connections: int
    links: int
    loadgen: str
    wrk: str | None
    server_cpu: int | None
    loadgen_cpu: int | None
    keep_data: bool
    workdir: str
    profile: str | None = None
    spool_clicks: int = 100_000


@dataclass
class CaseResult:
    name: str
    db: str
    redis: str
    loadgen: str
    connections: int
    duration: float
    rounds: int
    bare: dict[str, Any] = field(default_factory=dict)
    tracked: dict[str, Any] = field(default_factory=dict)
    clicks: dict[str, Any] = field(default_factory=dict)
    loader: dict[str, Any] = field(default_factory=dict)


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def bare_app() -> web.Application:
    from aiohttp import web

    async def bare(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": BARE_LOCATION})

    app = web.Application()
    app.router.add_get("/r/{code}", bare)
    app.router.add_get("/r/{code}/{sub}", bare)
    return app


async def seed(n_links: int) -> list[str]:
    """Affiliates, URL offers and `n_links` links (codes from the project's own alphabet)."""
    from bot.services.affiliates import create_link
    from models import Affiliate, Offer, OfferKind, SubLink

    n_offers = 4
    n_affiliates = math.ceil(n_links / n_offers)
    base = random.SystemRandom().randrange(10**12, 10**13)
    offers = [
        await Offer.create(
            title=f"bench offer {k}", kind=OfferKind.URL, target_url=TARGET_TEMPLATE
        )
        for k in range(n_offers)
    ]
    codes: list[str] = []
    for a in range(n_affiliates):
        affiliate = await Affiliate.create(tg_id=base + a, first_name=f"bench {a}")
        await SubLink.create(affiliate=affiliate, label=SUB_LABEL)
        for offer in offers:
            if len(codes) < n_links:
                codes.append((await create_link(affiliate, offer.id)).code)
    return codes


async def cleanup(codes: list[str]) -> None:
    """Remove what seed() made (links cascade to clicks and sublinks)."""
    from models import Affiliate, Link, Offer

    links = await Link.filter(code__in=codes).values("affiliate_id", "offer_id")
    affiliates = {row["affiliate_id"] for row in links}
    offers = {row["offer_id"] for row in links}
    await Affiliate.filter(id__in=affiliates).delete()
    await Offer.filter(id__in=offers).delete()


def spooled_bytes(spool_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in spool_dir.glob("*.spool"))


async def sanity_check(tracked_url: str, bare_url: str, mix: Mix, spool_dir: Path) -> str:
    """One tracked click: 302, a click_id in Location, the click already in the spool when
    the 302 arrives, and its row in the database once the loader has run."""
    import aiohttp

    from models import Click

    path = next(item[0] for item in mix if item[1] != BOT_AGENT)
    async with aiohttp.ClientSession() as session:
        async with session.get(
            tracked_url + path, allow_redirects=False, headers={"User-Agent": BROWSERS[0]}
        ) as resp:
            location = resp.headers.get("Location", "")
            if resp.status != 302 or not location.startswith("https://adv.example/land?cid="):
                raise RuntimeError(f"tracked {path}: {resp.status} {location!r}")
        cid = location.split("cid=", 1)[1].split("&", 1)[0]
        if cid.encode() not in spooled_bytes(spool_dir):
            raise RuntimeError(f"302 answered before click {cid} was in the spool")
        deadline = time.monotonic() + 5
        while not await Click.exists(click_id=cid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"click {cid} did not reach the database within 5 s")
            await asyncio.sleep(0.01)
        async with session.get(bare_url + path, allow_redirects=False) as resp:
            if resp.status != 302:
                raise RuntimeError(f"bare {path}: {resp.status}")
    return location


class StallWatch:
    """How long the server's event loop was held (a 2 ms timer that fires late) and how long
    the garbage collector ran, while a load runs: what a tail latency is made of."""

    def __init__(self) -> None:
        self.stalls: list[float] = []
        self.gc_seconds = 0.0
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_seconds += time.perf_counter() - self._gc_started

    async def _watch(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.002)
            self.stalls.append(time.perf_counter() - started - 0.002)

    def __enter__(self) -> StallWatch:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()


async def load(cfg: CaseConfig, url: str, mix: Mix, duration: float) -> LoadResult:
    with StallWatch() as watch:
        result = await _load(cfg, url, mix, duration)
    result.stall_max_ms = max(watch.stalls, default=0.0) * 1000
    result.stalls_over_10ms = sum(1 for stall in watch.stalls if stall > 0.010)
    result.gc_ms = watch.gc_seconds * 1000
    return result


async def _load(cfg: CaseConfig, url: str, mix: Mix, duration: float) -> LoadResult:
    workdir = Path(cfg.workdir)
    cpu0 = time.process_time()
    if cfg.loadgen == "wrk":
        assert cfg.wrk is not None
        result = await run_wrk(
            cfg.wrk, url, mix, cfg.connections, duration, cfg.loadgen_cpu, workdir
        )
    else:
        result = await run_python_client(
            url, mix, cfg.connections, duration, cfg.loadgen_cpu, workdir
        )
    # the server's own CPU (event loop plus its threads, e.g. aiosqlite's) per second
    result.server_cpu = (time.process_time() - cpu0) / result.elapsed if result.elapsed else 0.0
    return result


async def click_stats(after_id: int) -> dict[str, int]:
    from models import Click

    new = Click.filter(id__gt=after_id)
    return {
        "rows": await Click.all().count(),
        "new": await new.count(),
        "unique": await new.filter(is_unique=True).count(),
        "bot": await new.filter(is_bot=True).count(),
        "with_sub": await new.filter(sub__not_isnull=True).count(),
    }


async def max_click_id() -> int:
    from models import Click

    last = await Click.all().order_by("-id").first()
    return last.id if last else 0


async def caught_up(services: Any, seconds: float = 60.0) -> float:
    """Wait until the loader has stored everything spooled; how long that took."""
    started = time.monotonic()
    while services.click_loader.backlog().clicks:
        if time.monotonic() - started > seconds:
            raise RuntimeError(f"the loader did not catch up within {seconds:g} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


def synthetic_clicks(links: list[tuple[int, int, int]], count: int, tag: str) -> list[Any]:
    """`count` clicks over `links` from 5,000 visitors (one in six a bot), as the redirect
    makes them."""
    from bot.services.click_store import PendingClick

    rng = random.Random(11)
    now = datetime.now(UTC)
    clicks = []
    for n in range(count):
        link_id, affiliate_id, offer_id = links[n % len(links)]
        is_bot = n % 6 == 0
        visitor = f"{rng.randrange(5000):032x}"
        clicks.append(
            PendingClick(
                click_id=f"{tag}{n:0{32 - len(tag)}d}",
                link_id=link_id,
                sub=None,
                visitor=visitor,
                is_bot=is_bot,
                user_agent=BOT_AGENT if is_bot else BROWSERS[n % len(BROWSERS)],
                created_at=now,
                unique_key=None,
                affiliate_id=affiliate_id,
                offer_id=offer_id,
            )
        )
    return clicks


async def loader_throughput(services: Any, codes: list[str], cfg: CaseConfig) -> dict[str, Any]:
    """The loader on a spool already holding `cfg.spool_clicks` clicks (as after an outage),
    against plain INSERTs of as many rows in batches of the same size."""
    from bot.services.click_loader import BATCH, ClickLoader
    from bot.services.click_store import ClickStore, encode
    from bot.services.spool import Spool
    from bot.services.sql import connection, is_postgres
    from models import Link

    links = await Link.filter(code__in=codes).values_list("id", "affiliate_id", "offer_id")
    spool = Spool(Path(cfg.workdir) / f"spool-full-{cfg.name}", fsync_ms=0)
    spool.open()
    for click in synthetic_clicks(links, cfg.spool_clicks, "L"):
        spool.append(encode(click))
    loader = ClickLoader(spool, services.click_loader.store)
    started = time.perf_counter()
    await loader.load_all()
    seconds = time.perf_counter() - started
    await spool.close()

    rows = synthetic_clicks(links, cfg.spool_clicks, "B")
    conn = connection()
    started = time.perf_counter()
    for at in range(0, len(rows), BATCH):
        batch = rows[at : at + BATCH]
        sql, values = (
            ClickStore._insert(batch)
            if is_postgres(conn)
            else ClickStore._insert_sqlite(conn, batch)
        )
        await conn.execute_query(sql, values)
    baseline = time.perf_counter() - started
    per_second = cfg.spool_clicks / seconds
    baseline_per_second = cfg.spool_clicks / baseline
    return {
        "clicks": cfg.spool_clicks,
        "seconds": seconds,
        "per_second": per_second,
        "baseline_per_second": baseline_per_second,
        "ratio": per_second / baseline_per_second,
    }


async def serve_case(cfg: CaseConfig) -> CaseResult:
    from aiohttp import web

    from bot import db
    from bot.config import Settings
    from bot.factory import (
        Services,
        create_app,
        create_bot,
        create_dispatcher,
        create_services,
    )
    from bot.logging import setup_logging
    from bot.redis import create_redis

    setup_logging("WARNING")
    tracked_sock, bare_sock = bound_socket(), bound_socket()
    tracked_port = tracked_sock.getsockname()[1]
    settings = Settings(
        _env_file=None,
        BOT_TOKEN=FAKE_TOKEN,
        DATABASE_URL=cfg.db_url,
        REDIS_URL=cfg.redis_url,
        PUBLIC_URL=f"http://127.0.0.1:{tracked_port}",
        CLICK_SPOOL_DIR=str(Path(cfg.workdir) / f"spool-{cfg.name}"),
    )
    result = CaseResult(
        name=cfg.name,
        db=db.redact(cfg.db_url),
        redis=cfg.redis_url or "fakeredis (in-process)",
        loadgen=cfg.loadgen,
        connections=cfg.connections,
        duration=cfg.duration,
        rounds=cfg.rounds,
    )
    runners: list[web.AppRunner] = []
    redis: Redis | None = None
    bot: Bot | None = None
    services: Services | None = None
    try:
        await db.migrate(cfg.db_url)
        await db.init(cfg.db_url)
        redis = create_redis(cfg.redis_url)
        bot = create_bot(settings)
        services = create_services(settings, bot, redis)
        await services.click_loader.start()  # as `python -m bot run` does
        dp = create_dispatcher(settings, redis, services)
        app = create_app(settings, bot, dp, redis, services)
        codes = await seed(cfg.links)
        mix = request_mix(codes)
        gc.collect()  # as `python -m bot run` does once started (bot/process.py)
        gc.freeze()
        for application, sock in ((app, tracked_sock), (bare_app(), bare_sock)):
            runner = web.AppRunner(application, access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.SockSite(runner, sock).start()
        tracked_url = f"http://127.0.0.1:{tracked_port}"
        bare_url = f"http://127.0.0.1:{bare_sock.getsockname()[1]}"
        location = await sanity_check(tracked_url, bare_url, mix, settings.spool_dir)
        log(
            f"[{cfg.name}] sanity: one tracked click -> 302 {location}, spooled first, then stored"
        )

        runs: dict[str, list[LoadResult]] = {"bare": [], "tracked": []}
        checks: list[dict[str, Any]] = []
        for rnd in range(1, cfg.rounds + 1):
            for kind, url in (("bare", bare_url), ("tracked", tracked_url)):
                tag = f"[{cfg.name}] {kind}" + (f" round {rnd}" if cfg.rounds > 1 else "")
                if rnd == 1 and cfg.warmup > 0:
                    log(f"{tag}: warm-up {cfg.warmup:g} s")
                    await load(cfg, url, mix, cfg.warmup)
                    await caught_up(services)  # the warm-up's clicks are not this run's
                before_rows = (await click_stats(0))["rows"]
                after_id = await max_click_id()
                profiler = None
                if cfg.profile and kind == "tracked" and rnd == 1:
                    profiler = cProfile.Profile()
                    profiler.enable()
                run = await load(cfg, url, mix, cfg.duration)
                if profiler is not None and cfg.profile:
                    profiler.disable()
                    profiler.dump_stats(cfg.profile)
                    log(f"{tag}: cProfile written to {cfg.profile} (it slowed this run)")
                runs[kind].append(run)
                log(
                    f"{tag}: {run.rps:,.0f} req/s, p50 {run.p50_ms:.2f} ms, p99 "
                    f"{run.p99_ms:.2f} ms, {run.cpu_us:.0f} us CPU/req, statuses {run.status}, "
                    f"errors {run.errors}; loop stalls: longest {run.stall_max_ms:.1f} ms, "
                    f"{run.stalls_over_10ms} over 10 ms; gc {run.gc_ms:.0f} ms"
                )
                if kind == "tracked":
                    catch_up = await caught_up(services)
                    stats = await click_stats(after_id)
                    added = stats["rows"] - before_rows
                    check: dict[str, Any] = {**stats, "added": added, "catch_up_s": catch_up}
                    check["redirects"] = run.redirects
                    check["in_flight"] = run.in_flight
                    check["match"] = added == run.redirects
                    checks.append(check)
                    log(
                        f"{tag}: click table +{added:,} rows, {run.redirects:,} 302s received,"
                        f" in flight at stop {run.in_flight}; the loader caught up "
                        f"{catch_up:.2f} s after the load stopped"
                    )
        result.bare = summarize(runs["bare"])
        result.tracked = summarize(runs["tracked"])
        result.clicks = {
            key: sum(check[key] for check in checks)
            for key in ("added", "redirects", "in_flight", "unique", "bot", "with_sub")
        }
        result.clicks["match"] = all(check["match"] for check in checks)
        result.clicks["rows_total"] = checks[-1]["rows"]
        result.clicks["catch_up_s"] = max(check["catch_up_s"] for check in checks)
        result.loader = await loader_throughput(services, codes, cfg)
        log(
            f"[{cfg.name}] loader: {result.loader['clicks']:,} clicks from a full spool in "
            f"{result.loader['seconds']:.2f} s = {result.loader['per_second']:,.0f}/s; the same "
            f"rows as plain INSERTs: {result.loader['baseline_per_second']:,.0f}/s"
        )
        if cfg.name != "sqlite" and not cfg.keep_data:
            await cleanup(codes)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        if services is not None:
            await services.click_loader.close()
            await services.notifier.close()
        if redis is not None:
            await redis.aclose()
        if bot is not None:
            await bot.session.close()
        await db.close()
        for sock in (tracked_sock, bare_sock):
            sock.close()
    return result


def case_main(args: argparse.Namespace) -> int:
    cfg = CaseConfig(**json.loads(Path(args.case_file).read_text()))
    if cfg.server_cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cfg.server_cpu})
    result = asyncio.run(serve_case(cfg))
    Path(args.result_file).write_text(json.dumps(asdict(result)))
    return 0


# --------------------------------------------------------------------------- orchestration


async def ensure_pg_database(url: str) -> str | None:
    """Create the database when missing; None when ready, else why PostgreSQL is skipped."""
    import asyncpg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"affrace_bench[A-Za-z0-9_]*", name):
        return f"it is dropped and re-created, so its name must start affrace_bench: {name!r}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        conn = await asyncio.wait_for(asyncpg.connect(admin), 5)
    except Exception as exc:  # unreachable, refused, bad credentials: skip the case
        return f"{type(exc).__name__}: {exc}"
    try:
        # A fresh database each run: rows, dead tuples and index growth left by earlier runs
        # (autovacuum may be off) would otherwise slow the inserts measured here.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        log(f"created database {name} (fresh)")
    finally:
        await conn.close()
    return None


def cpu_plan(no_pin: bool) -> tuple[int | None, int | None]:
    """(server CPU, load generator CPU), or no pinning with fewer than two CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def project_revision() -> str:
    """The commit benchmarked, and whether the tree outside bench/ had local changes."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    dirty = [line for line in git("status", "--porcelain").splitlines() if " bench/" not in line]
    return commit + (" with uncommitted changes" if dirty else "")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def run_case(cfg: CaseConfig) -> CaseResult | None:
    workdir = Path(cfg.workdir)
    case_file = workdir / f"case-{cfg.name}.json"
    result_file = workdir / f"result-{cfg.name}.json"
    case_file.write_text(json.dumps(asdict(cfg)))
    cmd = [sys.executable, str(SCRIPT), "--_case", str(case_file)]
    cmd += ["--result-file", str(result_file)]
    budget = 2 * cfg.rounds * (cfg.duration + HARD_GRACE) + 2 * cfg.warmup + 180
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=budget, check=False)
    except subprocess.TimeoutExpired:
        log(f"[{cfg.name}] timed out after {budget:.0f} s")
        return None
    if proc.returncode != 0 or not result_file.exists():
        log(f"[{cfg.name}] crashed (exit {proc.returncode})")
        return None
    data = json.loads(result_file.read_text())
    return CaseResult(**data)


TARGETS = {"sqlite": 0.55, "postgres": 0.6}  # tracked/bare, from the click-spool issue
P99_TARGET_MS = 5.0


def report(results: list[CaseResult], target: float | None) -> list[str]:
    lines = []
    for res in results:
        bare, tracked, clicks = res.bare, res.tracked, res.clicks
        ratio = tracked["rps"] / bare["rps"] if bare["rps"] else 0.0
        goal = target if target is not None else TARGETS.get(res.name, 0.6)
        verdict = "PASS" if ratio >= goal else "FAIL"
        rounds = f", median of {res.rounds} rounds" if res.rounds > 1 else ""
        lines += [
            f"== {res.name}: {res.db}, redis {res.redis}",
            f"   load: {res.loadgen}, {res.connections} connections, {res.duration:g} s{rounds}",
            f"   {'':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} "
            f"{'srv CPU':>8} {'gen CPU':>8}",
        ]
        for label, run in (("bare", bare), ("tracked", tracked)):
            lines.append(
                f"   {label:8} {run['rps']:>9,.0f} {run['p50_ms']:>8.2f} {run['p99_ms']:>8.2f} "
                f"{run['cpu_us']:>11.0f} {run['server_cpu']:>8.2f} {run['loadgen_cpu']:>8.2f}"
            )
            if res.rounds > 1:
                lines.append(f"   {'':8} rounds: {', '.join(f'{r:,.0f}' for r in run['rounds'])}")
            busy = SATURATED if res.loadgen == "wrk" else SATURATED_PY
            if run["loadgen_cpu"] >= busy:
                lines.append(
                    f"   !! {label}: the load generator used {run['loadgen_cpu']:.0%} of a core: "
                    "this req/s is a lower bound (use wrk)"
                )
            elif label == "bare" and run["server_cpu"] < STARVED:
                lines.append(
                    f"   !! bare: the server got only {run['server_cpu']:.0%} of its core with an "
                    "idle load generator: other work on the machine? rerun (--rounds 3)"
                )
            other = {k: v for k, v in run["status"].items() if k != "302"}
            if other or run["errors"] or run["in_flight"]:
                lines.append(
                    f"   !! {label}: non-302 {other}, errors {run['errors']}, "
                    f"in flight at stop {run['in_flight']}"
                )
        lines.append(f"   ratio tracked/bare = {ratio:.3f}  (target >= {goal:g}): {verdict}")
        p99 = tracked["p99_ms"]
        lines.append(
            f"   tracked p99 = {p99:.1f} ms (target <= {P99_TARGET_MS:g} ms at 50 connections; "
            f"the bare server's own p99 here: {bare['p99_ms']:.1f} ms): "
            f"{'PASS' if p99 <= P99_TARGET_MS else 'FAIL'}"
        )
        match = "MATCH" if clicks["match"] else "MISMATCH"
        lines.append(
            f"   click rows added {clicks['added']:,} vs 302s received {clicks['redirects']:,}: "
            f"{match} (unique {clicks['unique']:,}, bot {clicks['bot']:,}, "
            f"with sub {clicks['with_sub']:,}; in flight at stop {clicks['in_flight']}); "
            f"the loader caught up {clicks['catch_up_s']:.2f} s after the load stopped"
        )
        loader = res.loader
        lines.append(
            f"   loader from a full spool: {loader['per_second']:,.0f} clicks/s "
            f"({loader['clicks']:,} in {loader['seconds']:.2f} s); plain INSERTs of the same rows "
            f"{loader['baseline_per_second']:,.0f}/s; ratio {loader['ratio']:.2f}"
        )
    return lines


def main_run(args: argparse.Namespace) -> int:
    wrk = shutil.which("wrk")
    loadgen = args.loadgen
    if loadgen in ("auto", "wrk") and wrk is None:
        log("wrk is not installed (apt-get install -y wrk): using the Python client")
        loadgen = "python"
    elif loadgen == "auto":
        loadgen = "wrk"
    server_cpu, loadgen_cpu = cpu_plan(args.no_pin)
    tool = wrk_version(wrk) if loadgen == "wrk" and wrk else "Python aiohttp client"

    import aiohttp
    import tortoise

    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, {platform.platform()}")
    print(f"project: {project_revision()}")
    print(f"load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(
        f"python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"tortoise-orm {tortoise.__version__}; load generator: {tool}"
    )
    if server_cpu is None:
        print("cpu pinning: none")
    else:
        print(f"cpu pinning: server on CPU {server_cpu}, load generator on CPU {loadgen_cpu}")
    sys.stdout.flush()

    results: list[CaseResult] = []
    crashed = False
    with tempfile.TemporaryDirectory(prefix="affrace-bench-") as tmp:
        cases: list[tuple[str, str]] = []
        if args.db in ("both", "sqlite"):
            cases.append(("sqlite", f"sqlite://{tmp}/bench.sqlite3"))
        if args.db in ("both", "pg"):
            why = asyncio.run(ensure_pg_database(args.pg_url))
            if why is None:
                cases.append(("postgres", args.pg_url))
            else:
                print(f"PostgreSQL skipped: {why}")
        for name, url in cases:
            cfg = CaseConfig(
                name=name,
                db_url=url,
                redis_url=args.redis_url,
                duration=args.duration,
                warmup=args.warmup,
                rounds=args.rounds,
                connections=args.connections,
                links=args.links,
                loadgen=loadgen,
                wrk=wrk,
                server_cpu=server_cpu,
                loadgen_cpu=loadgen_cpu,
                keep_data=args.keep_data,
                workdir=tmp,
                profile=f"{args.profile}.{name}" if args.profile else None,
                spool_clicks=args.spool_clicks,
            )
            result = run_case(cfg)
            if result is None:
                crashed = True
            else:
                results.append(result)
    print()
    for line in report(results, args.target):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if crashed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--rounds", type=int, default=1, help="bare+tracked pairs (1)")
    parser.add_argument("--connections", type=int, default=50, help="concurrency (50)")
    parser.add_argument("--links", type=int, default=100, help="links to spread over (100)")
    parser.add_argument("--db", choices=("both", "sqlite", "pg"), default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--redis-url", default=None, help="real Redis (default: fakeredis)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument(
        "--target",
        type=float,
        default=None,
        help="tracked/bare goal (default: 0.55 on SQLite, 0.6 on PostgreSQL)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep PostgreSQL rows")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the first tracked run into FILE.<case>"
    )
    parser.add_argument(
        "--spool-clicks",
        type=int,
        default=100_000,
        help="clicks in the full spool the loader's throughput is measured on (100000)",
    )
    # internal: one DB case, or the Python load generator, in a child process
    parser.add_argument("--_case", dest="case_file", help=argparse.SUPPRESS)
    parser.add_argument("--_client", dest="client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--mix-file", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be in (0, 600] and --warmup in [0, 60]")
    if not 1 <= args.connections <= 1000 or not 1 <= args.links <= 10_000:
        parser.error("--connections must be 1-1000 and --links 1-10000")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1-20")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client:
        return client_main(args)
    if args.case_file:
        return case_main(args)
    return main_run(args)


if __name__ == "__main__":
    sys.exit(main())
