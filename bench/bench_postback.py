#!/usr/bin/env python3
"""Benchmark postback ingest on PostgreSQL against a plain INSERT ... ON CONFLICT DO NOTHING.

Three cases run in one process, on the same database, one after the other:

* baseline: asyncpg inserts rows of the same shape into the same `conversion` table, one
  `INSERT ... ON CONFLICT DO NOTHING` per row, through a pool as large as the app's;
* service: `PostbackService.postback()` called directly (signed, new txids, with ledger);
* http: the project's own app (`create_app`) served by aiohttp on 127.0.0.1 and loaded with
  pre-signed `GET /postback/{offer_id}?...` requests by an aiohttp client in a child process.

Each case sends the same number of new conversions with the same number in flight. Rates
count conversions actually stored (rows inserted for the baseline); after each case the
`conversion` and `ledger` rows of that case are counted against the "stored" answers.
Targets (from the issue): the app's ingest >= 4,000 conversions/s and ingest/baseline
>= 0.6 (issue 14; earlier 2,000/s and 0.15); the HTTP case is the one judged, the service
case shows the HTTP overhead.

    .venv/bin/python bench/bench_postback.py [--postbacks 10000] [--concurrency 64]
        [--pool-size N] [--pg-url postgres://postgres@127.0.0.1:5432/affrace_bench_pb]

The table also gives CPU per case, in cores: this process (the app, or the baseline's
asyncpg), the HTTP client, PostgreSQL (its own processes and the backends of the bench
database) and everything else on the machine, so a run disturbed by other jobs shows, plus
this process's CPU time per conversion. --pool-size N sets ?maxsize=N on the URL, which
tortoise passes to asyncpg.create_pool (its default is 5); the baseline's pool is as large.

The bench makes its own offer, affiliates, links and clicks, and deletes them (and the
conversions and ledger rows) at the end unless --keep-data. No Telegram call is made: the
notifier's fold delay is set to an hour and its timers are cancelled at the end. Exit
status: 0 unless something crashed; PASS/FAIL is only printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import platform
import pstats
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    import asyncpg
    from aiogram import Bot
    from redis.asyncio import Redis

    from bot.factory import Services

from common import (
    FAKE_TOKEN,
    log,
    percentile,
    split_pg_url,
    verdict,
)
from common import (
    recreate_database as ensure_database,
)

SCRIPT = Path(__file__).resolve()

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/affrace_bench_pb"
SECRET = "s3cret"
PAYOUT_MINOR = 250
TARGET_URL = "https://adv.example/?c={click_id}"
TARGET_RATE = 4000.0  # issue 14 (was 2000)
TARGET_RATIO = 0.6  # issue 14 (was 0.15)
TORTOISE_DEFAULT_POOL = 5  # tortoise/backends/base_postgres/client.py: maxsize default
BASELINE_APP_NAME = "affrace-bench-baseline"
CASES = ("baseline", "service", "http")
# URL query options asyncpg understands itself (e.g. ?host=/var/run/postgresql); tortoise's
# own (minsize, maxsize, ...) are not passed to the baseline's asyncpg.connect

BASELINE_SQL = (
    "INSERT INTO conversion (offer_id, affiliate_id, link_id, click_id, sub, txid, event, "
    "amount_minor, currency, commission_minor, status, review, review_reason, created_at, "
    "decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
    "ON CONFLICT DO NOTHING"
)


# --------------------------------------------------------------------------- CPU accounting


def system_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat; (0, 0) where there is none."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return 0.0, 0.0
    values = [float(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    return sum(values) - idle, sum(values)


def postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of PostgreSQL's own processes and of the backends of `database`.

    Backends serving other databases (other jobs) are left out.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (proc / "stat").read_text()
            if stat[stat.index("(") + 1 : stat.rindex(")")] != "postgres":
                continue
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            client = "(" in title or "[local]" in title  # "db 127.0.0.1(5678) idle"
            if client and f" {database} " not in title:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            found[int(proc.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


@dataclass
class CpuMeter:
    """CPU used over one case, in cores: this process, PostgreSQL, the whole machine."""

    database: str = ""
    own0: float = field(default_factory=time.process_time)
    pg0: dict[int, float] = field(default_factory=dict)
    sys0: tuple[float, float] = field(default_factory=system_busy)
    pg_partial: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.pg0 = postgres_cpu(self.database)

    def read(self, elapsed: float) -> tuple[float, float, float]:
        if elapsed <= 0:
            return 0.0, 0.0, 0.0
        own = (time.process_time() - self.own0) / elapsed
        pg1 = postgres_cpu(self.database)
        pg = sum(cpu - self.pg0.get(pid, 0.0) for pid, cpu in pg1.items()) / elapsed
        # a backend that ended meanwhile (asyncpg replaces a connection after 50,000 queries)
        # took its CPU time along: then the figure is only a lower bound
        self.pg_partial = bool(set(self.pg0) - set(pg1))
        busy1, total1 = system_busy()
        busy0, total0 = self.sys0
        cpus = os.cpu_count() or 1
        machine = (busy1 - busy0) / (total1 - total0) * cpus if total1 > total0 else 0.0
        return own, pg, machine


def background_load(seconds: float = 1.0) -> float:
    """Cores busy on the machine while this bench does nothing (other jobs' load)."""
    meter = CpuMeter()
    time.sleep(seconds)
    return meter.read(seconds)[2]


# --------------------------------------------------------------------------- results


@dataclass
class CaseResult:
    """What one case did, as seen from the sender and then from the database."""

    name: str
    sent: int
    elapsed: float
    answers: dict[str, int]
    stored: int
    p50_ms: float
    p99_ms: float
    server_cpu: float  # cores used by this process (the app, or the baseline's driver)
    client_cpu: float = 0.0  # cores used by the HTTP load generator
    pg_cpu: float = 0.0  # cores used by PostgreSQL's processes
    pg_partial: bool = False  # a PostgreSQL process ended meanwhile: pg_cpu is a lower bound
    machine_cpu: float = 0.0  # cores busy on the whole machine
    errors: int = 0
    samples: list[str] = field(default_factory=list)  # a few non-stored answers
    rows: int = 0  # conversion rows of this case found afterwards
    ledger_rows: int = 0
    ledger_sum: int = 0

    @property
    def rate(self) -> float:
        return self.stored / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def app_ms(self) -> float:
        return self.server_cpu / self.rate * 1000 if self.rate > 0 else 0.0

    @property
    def others_cpu(self) -> float:
        return max(0.0, self.machine_cpu - self.server_cpu - self.client_cpu - self.pg_cpu)

    @property
    def rows_match(self) -> bool:
        if self.name == "baseline":
            return self.rows == self.stored
        return self.rows == self.ledger_rows == self.stored and (
            self.ledger_sum == self.stored * PAYOUT_MINOR
        )


# --------------------------------------------------------------------------- HTTP client


async def http_client(base_url: str, paths: list[str], concurrency: int) -> dict[str, Any]:
    """`concurrency` keep-alive workers share the pre-signed requests; each is sent once."""
    import aiohttp
    from yarl import URL

    urls = [URL(base_url + path, encoded=True) for path in paths]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    answers: Counter[str] = Counter()
    samples: list[str] = []
    errors = 0
    queue: Iterator[URL] = iter(urls)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        print("READY", flush=True)  # the parent starts its CPU meters, then says GO
        if sys.stdin.readline().strip() != "GO":
            raise RuntimeError("the parent did not say GO")
        cpu0 = time.process_time()
        start = time.perf_counter()

        async def worker() -> None:
            nonlocal errors
            for url in queue:
                t0 = time.perf_counter()
                try:
                    async with session.get(url) as resp:
                        body = await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[str(status)] += 1
                try:
                    result = str(json.loads(body).get("result"))
                except (ValueError, AttributeError):
                    result = "unreadable"
                answers[result] += 1
                if result != "stored" and len(samples) < 3:
                    samples.append(f"{status} {body[:200].decode(errors='replace')}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        print("DONE", flush=True)
    latencies.sort()
    return {
        "sent": len(urls),
        "elapsed": elapsed,
        "answers": dict(answers),
        "statuses": dict(statuses),
        "errors": errors,
        "samples": samples,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "client_cpu": cpu / elapsed if elapsed > 0 else 0.0,
    }


def client_main(args: argparse.Namespace) -> int:
    if args.cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {args.cpu})
    paths = [str(p) for p in json.loads(Path(args.paths_file).read_text())]
    result = asyncio.run(http_client(args.url, paths, args.concurrency))
    Path(args.result_file).write_text(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- database set-up


def with_pool_size(url: str, size: int | None) -> str:
    """The URL with tortoise's pool size options (?minsize=&maxsize=) set when asked."""
    if size is None:
        return url
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    options["maxsize"] = str(size)
    options["minsize"] = str(min(size, int(options.get("minsize", "1"))))
    return urlunsplit(parts._replace(query=urlencode(options)))


@dataclass
class Seed:
    database: str
    offer_id: int
    affiliate_ids: list[int]
    clicks: list[tuple[int, str, int, int]]  # (click pk, click_id, link_id, affiliate_id)


async def seed(database: str, n_affiliates: int, n_clicks: int) -> Seed:
    """An offer, affiliates with a link to it each, and clicks an hour old spread over them."""
    from bot.services.affiliates import AffiliateService, Profile, create_link
    from models import Click, Offer, OfferKind

    nonce = f"{random.randrange(36**6):06x}"
    offer = await Offer.create(
        title=f"bench postback {nonce}",
        kind=OfferKind.URL,
        target_url=TARGET_URL,
        payout_minor=PAYOUT_MINOR,
        currency="USD",
        secret=SECRET,
    )
    service = AffiliateService()
    base = random.SystemRandom().randrange(10**12, 10**13)
    affiliate_ids: list[int] = []
    link_owner: dict[int, int] = {}
    for n in range(n_affiliates):
        affiliate, _ = await service.load_or_create(
            Profile(tg_id=base + n, first_name=f"bench {n}")
        )
        link = await create_link(affiliate, offer.id)
        affiliate_ids.append(affiliate.id)
        link_owner[link.id] = affiliate.id
    link_ids = list(link_owner)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    await Click.bulk_create(
        [
            Click(
                click_id=uuid.uuid4().hex,
                link_id=link_ids[n % len(link_ids)],
                visitor=uuid.uuid4().hex,
                is_unique=True,
                is_bot=False,
                created_at=an_hour_ago,
            )
            for n in range(n_clicks)
        ],
        batch_size=1000,
    )
    rows = (
        await Click.filter(link_id__in=link_ids)
        .order_by("id")
        .values_list("id", "click_id", "link_id")
    )
    clicks = [(int(pk), str(cid), int(lid), link_owner[int(lid)]) for pk, cid, lid in rows]
    if len(clicks) != n_clicks:
        raise RuntimeError(f"seeded {len(clicks)} clicks, wanted {n_clicks}")
    return Seed(database, offer.id, affiliate_ids, clicks)


async def cleanup(pool: asyncpg.Pool, data: Seed) -> None:
    """Remove the offer's ledger rows, conversions, affiliates (links, clicks) and the offer."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM ledger WHERE conversion_id IN "
            "(SELECT id FROM conversion WHERE offer_id = $1)",
            data.offer_id,
        )
        await conn.execute("DELETE FROM conversion WHERE offer_id = $1", data.offer_id)
        await conn.execute(
            "DELETE FROM click WHERE link_id IN (SELECT id FROM link WHERE offer_id = $1)",
            data.offer_id,
        )
        await conn.execute("DELETE FROM affiliate WHERE id = ANY($1::int[])", data.affiliate_ids)
        await conn.execute("DELETE FROM offer WHERE id = $1", data.offer_id)


async def count_rows(pool: asyncpg.Pool, offer_id: int, prefix: str) -> tuple[int, int, int]:
    """(conversion rows, ledger rows, ledger sum) of the txids starting with `prefix`."""
    pattern = prefix + "%"
    rows = await pool.fetchval(
        "SELECT count(*) FROM conversion WHERE offer_id = $1 AND txid LIKE $2", offer_id, pattern
    )
    ledger = await pool.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(l.amount_minor), 0) AS total FROM ledger l "
        "JOIN conversion c ON c.id = l.conversion_id WHERE c.offer_id = $1 AND c.txid LIKE $2",
        offer_id,
        pattern,
    )
    return int(rows), int(ledger["n"]), int(ledger["total"])


async def tortoise_backends(pool: asyncpg.Pool, database: str) -> int:
    """Connections to the bench database other than the baseline's own: tortoise's pool."""
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
            "AND application_name <> $2 AND pid <> pg_backend_pid()",
            database,
            BASELINE_APP_NAME,
        )
    )


# --------------------------------------------------------------------------- the cases


def signed_params(click_id: str, txid: str) -> dict[str, str]:
    from bot.services.postbacks import sign

    params = {
        "click_id": click_id,
        "event": "deposit",
        "amount": "10.00",
        "currency": "USD",
        "status": "approved",
        "txid": txid,
        "ts": str(int(time.time())),
    }
    params["sig"] = sign(params, SECRET)
    return params


async def bounded(
    items: list[Any], concurrency: int, call: Callable[[Any], Awaitable[str]]
) -> tuple[float, Counter[str], list[float], list[str]]:
    """Run `call` over `items` with `concurrency` workers: (elapsed, answers, latencies, notes)."""
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    samples: list[str] = []
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            t0 = time.perf_counter()
            result = await call(item)
            latencies.append(time.perf_counter() - t0)
            head = result.split(" ", 1)[0]
            answers[head] += 1
            if head != "stored" and len(samples) < 3:
                samples.append(result)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return elapsed, answers, latencies, samples


async def run_baseline(
    pool: asyncpg.Pool, data: Seed, prefix: str, n: int, concurrency: int
) -> CaseResult:
    now = datetime.now(UTC)
    rows = [
        (
            data.offer_id,
            affiliate_id,
            link_id,
            click_pk,
            None,
            f"{prefix}{k}",
            "deposit",
            1000,
            "USD",
            PAYOUT_MINOR,
            "approved",
            False,
            None,
            now,
            now,
        )
        for k, (click_pk, _, link_id, affiliate_id) in enumerate(
            data.clicks[i % len(data.clicks)] for i in range(n)
        )
    ]

    async def insert(row: tuple[Any, ...]) -> str:
        status = await pool.execute(BASELINE_SQL, *row)
        return "stored" if status == "INSERT 0 1" else f"not-inserted {status}"

    meter = CpuMeter(data.database)
    elapsed, answers, latencies, samples = await bounded(rows, concurrency, insert)
    own, pg, machine = meter.read(elapsed)
    result = CaseResult(
        name="baseline",
        sent=n,
        elapsed=elapsed,
        answers=dict(answers),
        stored=answers["stored"],
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        server_cpu=own,
        pg_cpu=pg,
        pg_partial=meter.pg_partial,
        machine_cpu=machine,
        samples=samples,
    )
    result.rows, result.ledger_rows, result.ledger_sum = await count_rows(
        pool, data.offer_id, prefix
    )
    return result


async def run_service(
    services: Services,
    pool: asyncpg.Pool,
    data: Seed,
    prefix: str,
    clicks: list[tuple[int, str, int, int]],
    concurrency: int,
    name: str = "service",
) -> CaseResult:
    postbacks = services.postbacks
    batch = [signed_params(cid, f"{prefix}{k}") for k, (_, cid, _, _) in enumerate(clicks)]

    async def post(params: dict[str, str]) -> str:
        answer = await postbacks.postback(data.offer_id, params, "127.0.0.1")
        verdict = answer.verdict.value
        return verdict if verdict == "stored" else f"{verdict} {answer}"

    meter = CpuMeter(data.database)
    elapsed, answers, latencies, samples = await bounded(batch, concurrency, post)
    own, pg, machine = meter.read(elapsed)
    result = CaseResult(
        name=name,
        sent=len(batch),
        elapsed=elapsed,
        answers=dict(answers),
        stored=answers["stored"],
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        server_cpu=own,
        pg_cpu=pg,
        pg_partial=meter.pg_partial,
        machine_cpu=machine,
        samples=samples,
    )
    result.rows, result.ledger_rows, result.ledger_sum = await count_rows(
        pool, data.offer_id, prefix
    )
    return result


async def sanity_check(base_url: str, offer_id: int, click_id: str, prefix: str) -> str:
    """One signed postback over HTTP is stored, and its repeat is answered as a duplicate."""
    import aiohttp

    path = f"/postback/{offer_id}?" + urlencode(signed_params(click_id, f"{prefix}0"))
    seen = []
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.get(base_url + path) as resp:
                seen.append(f"{resp.status} {(await resp.json()).get('result')}")
    if seen != ["200 stored", "200 duplicate"]:
        raise RuntimeError(f"sanity postback answered {seen}")
    return ", then ".join(seen)


async def run_http(
    base_url: str,
    pool: asyncpg.Pool,
    data: Seed,
    prefix: str,
    clicks: list[tuple[int, str, int, int]],
    concurrency: int,
    client_cpu: int | None,
    workdir: Path,
) -> CaseResult:
    paths = [
        f"/postback/{data.offer_id}?" + urlencode(signed_params(cid, f"{prefix}{k}"))
        for k, (_, cid, _, _) in enumerate(clicks)
    ]
    paths_file = workdir / "paths.json"
    result_file = workdir / "client-result.json"
    paths_file.write_text(json.dumps(paths))
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, str(SCRIPT), "--_client", "--url", base_url]
    cmd += ["--paths-file", str(paths_file), "--result-file", str(result_file)]
    cmd += ["--concurrency", str(concurrency)]
    if client_cpu is not None:
        cmd += ["--cpu", str(client_cpu)]
    budget = 120 + len(paths) / 20  # even at 20/s it ends
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        async with asyncio.timeout(budget):
            if (await proc.stdout.readline()).strip() != b"READY":
                raise RuntimeError("the HTTP client did not start")
            meter = CpuMeter(data.database)
            start = time.perf_counter()
            proc.stdin.write(b"GO\n")
            await proc.stdin.drain()
            if (await proc.stdout.readline()).strip() != b"DONE":
                raise RuntimeError("the HTTP client stopped before it was done")
            wall = time.perf_counter() - start
            own, pg, machine = meter.read(wall)
            await proc.wait()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0 or not result_file.exists():
        raise RuntimeError(f"the HTTP client failed (exit {proc.returncode})")
    got = json.loads(result_file.read_text())
    elapsed = float(got["elapsed"])
    answers = dict(got["answers"])
    result = CaseResult(
        name="http",
        sent=int(got["sent"]),
        elapsed=elapsed,
        answers=answers,
        stored=int(answers.get("stored", 0)),
        p50_ms=float(got["p50_ms"]),
        p99_ms=float(got["p99_ms"]),
        server_cpu=own,
        client_cpu=float(got["client_cpu"]),
        pg_cpu=pg,
        pg_partial=meter.pg_partial,
        machine_cpu=machine,
        errors=int(got["errors"]),
        samples=list(got["samples"]),
    )
    result.rows, result.ledger_rows, result.ledger_sum = await count_rows(
        pool, data.offer_id, prefix
    )
    return result


# --------------------------------------------------------------------------- orchestration


@dataclass
class Report:
    pg_version: str
    pg_settings: dict[str, str]
    database: str
    pool_size: int
    pool_backends: int
    postbacks: int
    concurrency: int
    background: float
    cases: list[CaseResult]


async def bench(args: argparse.Namespace, workdir: Path) -> Report:
    import asyncpg
    from aiohttp import web
    from tortoise import Tortoise

    from bot import db
    from bot.config import Settings
    from bot.factory import create_app, create_bot, create_dispatcher, create_services
    from bot.logging import setup_logging
    from bot.redis import create_redis

    setup_logging("WARNING")
    url = with_pool_size(args.pg_url, args.pool_size)
    dsn, database, options = split_pg_url(url)
    pool_size = int(options.get("maxsize", TORTOISE_DEFAULT_POOL))
    cases = [c for c in CASES if c in args.cases]
    n = args.postbacks
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[0], cpus[1]) if args.pin and len(cpus) >= 2 else (None, None)
    if server_cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {server_cpu})

    await ensure_database(url)
    await db.migrate(url)
    await db.init(url)
    settings = Settings(
        _env_file=None,
        BOT_TOKEN=FAKE_TOKEN,
        DATABASE_URL=url,
        PUBLIC_URL="http://127.0.0.1:8080",
        REDIS_URL=args.redis_url,
        REFERRAL_NOTIFY_DELAY=3600,  # the notifier's timers never fire: no Telegram call
    )
    pool: asyncpg.Pool | None = None
    redis: Redis | None = None
    bot: Bot | None = None
    services: Services | None = None
    runner: web.AppRunner | None = None
    data: Seed | None = None
    results: list[CaseResult] = []
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=pool_size,
            max_size=pool_size,
            server_settings={"application_name": BASELINE_APP_NAME},
            reset=db.keep_session,  # released the way the app's pool releases (bot/db.py)
        )
        pg_version = str(await pool.fetchval("SHOW server_version"))
        pg_settings = {
            name: str(await pool.fetchval(f"SHOW {name}"))
            for name in ("synchronous_commit", "fsync", "shared_buffers", "max_connections")
        }
        redis = create_redis(args.redis_url)
        bot = create_bot(settings)
        services = create_services(settings, bot, redis)
        dp = create_dispatcher(settings, redis, services)
        app = create_app(settings, bot, dp, redis, services)

        n_clicks = args.warmup + 1 + n * 2
        log(f"seeding 1 offer, {args.affiliates} affiliates and links, {n_clicks:,} clicks")
        data = await seed(database, args.affiliates, n_clicks)
        background = background_load()
        if background > 0.25:
            log(f"!! {background:.2f} cores are busy with other jobs: the figures will suffer")
        warm = data.clicks[: args.warmup]
        sane = data.clicks[args.warmup]
        svc_clicks = data.clicks[args.warmup + 1 : args.warmup + 1 + n]
        http_clicks = data.clicks[args.warmup + 1 + n :]
        if args.warmup:
            await run_service(services, pool, data, "warm-", warm, args.concurrency, "warm-up")
            log(f"warm-up: {args.warmup} postbacks through the service")

        profiler = cProfile.Profile() if args.profile else None
        for case in cases:
            if profiler is not None:
                profiler.enable()
            if case == "baseline":
                result = await run_baseline(pool, data, "base-", n, args.concurrency)
            elif case == "service":
                result = await run_service(
                    services, pool, data, "svc-", svc_clicks, args.concurrency
                )
            else:
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                port = runner.addresses[0][1]
                base_url = f"http://127.0.0.1:{port}"
                log(f"sanity: {await sanity_check(base_url, data.offer_id, sane[1], 'sane-')}")
                result = await run_http(
                    base_url,
                    pool,
                    data,
                    "http-",
                    http_clicks,
                    args.concurrency,
                    client_cpu,
                    workdir,
                )
            if profiler is not None:
                profiler.disable()
            results.append(result)
            log(
                f"{case}: {result.rate:,.0f} conversions/s ({result.stored:,} of {result.sent:,}"
                f" in {result.elapsed:.2f} s), answers {result.answers}"
            )
        if profiler is not None:
            profiler.dump_stats(args.profile)
            log(f"profile of this process over the cases written to {args.profile}")
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        backends = await tortoise_backends(pool, database)
        conn = Tortoise.get_connection("default")
        pool_size = int(getattr(conn, "pool_maxsize", pool_size))
        if not args.keep_data:
            await cleanup(pool, data)
            data = None
        return Report(
            pg_version=pg_version,
            pg_settings=pg_settings,
            database=db.redact(url),
            pool_size=pool_size,
            pool_backends=backends,
            postbacks=n,
            concurrency=args.concurrency,
            background=background,
            cases=results,
        )
    finally:
        if runner is not None:
            await runner.cleanup()
        if services is not None:
            await services.click_loader.close()  # (the click service has nothing to close)
            await services.notifier.close()
        if redis is not None:
            await redis.aclose()
        if bot is not None:
            await bot.session.close()
        if pool is not None:
            if data is not None and not args.keep_data:
                with contextlib.suppress(Exception):
                    await cleanup(pool, data)
            await pool.close()
        await db.close()


def report_lines(rep: Report) -> list[str]:
    by_name = {c.name: c for c in rep.cases}
    lines = [
        f"== postback ingest on PostgreSQL {rep.pg_version} ({rep.database})",
        "   "
        + ", ".join(f"{k} {v}" for k, v in rep.pg_settings.items())
        + f"; tortoise pool max {rep.pool_size} connections ({rep.pool_backends} open at the"
        f" end), baseline pool the same",
        f"   {rep.postbacks:,} new conversions per case, {rep.concurrency} in flight",
        f"   {'case':22} {'conv/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'app CPU':>8} "
        f"{'client':>7} {'pg CPU':>7} {'others':>7} {'app ms/conv':>12}",
    ]
    labels = {
        "baseline": "baseline INSERT",
        "service": "service postback()",
        "http": "HTTP GET /postback",
    }
    for case in rep.cases:
        client = f"{case.client_cpu:>7.2f}" if case.name == "http" else f"{'-':>7}"
        lines.append(
            f"   {labels[case.name]:22} {case.rate:>8,.0f} {case.p50_ms:>8.2f} "
            f"{case.p99_ms:>8.2f} {case.server_cpu:>8.2f} {client} "
            f"{('>=' if case.pg_partial else '') + f'{case.pg_cpu:.2f}':>7} "
            f"{case.others_cpu:>7.2f} {case.app_ms:>12.3f}"
        )
    lines.append(
        "   (CPU in cores: app = this process (the app, or the baseline's asyncpg), client ="
        " the HTTP load generator, pg = PostgreSQL, others = everything else on the machine;"
        " app ms/conv = this process's CPU time per conversion)"
    )
    if rep.background > 0.25:
        lines.append(
            f"   !! other jobs kept {rep.background:.2f} cores busy before the run: the figures"
            " are depressed; rerun on an idle machine"
        )
    base = by_name.get("baseline")
    for name in ("service", "http"):
        found = by_name.get(name)
        if found is None:
            continue
        case = found
        judged = " (judged)" if name == "http" else ""
        lines.append(
            f"   {name}{judged}: {case.rate:,.0f} conversions/s (target >= {TARGET_RATE:,.0f}):"
            f" {verdict(case.rate >= TARGET_RATE)}"
        )
        if base is not None and base.rate > 0:
            ratio = case.rate / base.rate
            lines.append(
                f"   {name}{judged}: ratio {name}/baseline = {ratio:.3f} (target >= "
                f"{TARGET_RATIO:g}): {verdict(ratio >= TARGET_RATIO)}"
            )
    for case in rep.cases:
        check = f"   rows {case.name}: {case.stored:,} stored answers -> {case.rows:,} conversion"
        if case.name != "baseline":
            check += f", {case.ledger_rows:,} ledger rows (sum {case.ledger_sum:,} minor)"
        lines.append(f"{check}: {'MATCH' if case.rows_match else 'MISMATCH'}")
        other = {k: v for k, v in case.answers.items() if k != "stored"}
        if other or case.errors:
            lines.append(f"   !! {case.name}: other answers {other}, errors {case.errors}")
            lines += [f"      e.g. {sample}" for sample in case.samples]
        if case.name == "http" and case.client_cpu >= 0.75:
            lines.append(
                f"   !! the HTTP client used {case.client_cpu:.0%} of a core: the HTTP rate may"
                " be bounded by the load generator"
            )
    return lines


def main_run(args: argparse.Namespace) -> int:
    import aiohttp
    import asyncpg
    import tortoise

    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}")
    print(
        f"python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"tortoise-orm {tortoise.__version__}, asyncpg {asyncpg.__version__}"
    )
    print("cpu pinning: " + ("app on one CPU, HTTP client on another" if args.pin else "none"))
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="affrace-bench-pb-") as tmp:
        rep = asyncio.run(bench(args, Path(tmp)))
    print()
    for line in report_lines(rep):
        print(line)
    if args.json:
        data = asdict(rep)
        for case, row in zip(rep.cases, data["cases"], strict=True):
            row.update(rate=case.rate, app_ms=case.app_ms, rows_match=case.rows_match)
        Path(args.json).write_text(json.dumps(data, indent=2))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postbacks", type=int, default=10_000, help="per case (10000)")
    parser.add_argument("--concurrency", type=int, default=64, help="in flight (64)")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="set ?maxsize= on the URL (default: as in the URL, else tortoise's 5)",
    )
    parser.add_argument("--affiliates", type=int, default=100, help="one link each (100)")
    parser.add_argument("--warmup", type=int, default=500, help="service postbacks first (500)")
    parser.add_argument("--cases", default=",".join(CASES), help="baseline,service,http")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--redis-url", default=None, help="real Redis (default: fakeredis)")
    parser.add_argument("--pin", action="store_true", help="pin the app and the HTTP client")
    parser.add_argument("--keep-data", action="store_true", help="keep the rows it made")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--profile", help="cProfile this process over the cases into FILE")
    # internal: the HTTP load generator in a child process
    parser.add_argument("--_client", dest="client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--paths-file", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return args
    if not 1 <= args.postbacks <= 40_000:
        # requests are signed before the clock starts and a ts is good for 5 minutes
        parser.error("--postbacks must be 1-40000")
    if not 1 <= args.concurrency <= 1000 or not 1 <= args.affiliates <= 10_000:
        parser.error("--concurrency must be 1-1000 and --affiliates 1-10000")
    if args.pool_size is not None and not 1 <= args.pool_size <= 200:
        parser.error("--pool-size must be 1-200")
    if not 0 <= args.warmup <= 100_000:
        parser.error("--warmup must be 0-100000")
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(args.cases) - set(CASES)
    if unknown or not args.cases:
        parser.error(f"--cases takes a comma list of {', '.join(CASES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client:
        return client_main(args)
    return main_run(args)


if __name__ == "__main__":
    sys.exit(main())
