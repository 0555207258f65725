"""What the three benchmarks share: the project on sys.path, logging, nearest-rank
percentiles, PASS/FAIL, CPU pinning, and their own PostgreSQL database (dropped and made anew
each run, so only one whose name starts affrace_bench)."""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAKE_TOKEN = "123456:" + "A" * 35  # the shape of a real token; Telegram is never called
# URL query options asyncpg understands itself (e.g. ?host=/var/run/postgresql); tortoise's
# own (minsize, maxsize, ...) are not passed to asyncpg.connect
ASYNCPG_DSN_OPTIONS = {
    "host",
    "port",
    "user",
    "password",
    "passfile",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "target_session_attrs",
}
BENCH_DATABASE = re.compile(r"affrace_bench[A-Za-z0-9_]*")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """The command run on one CPU (taskset), where there is one to pin to."""
    taskset = shutil.which("taskset")
    if cpu is None or taskset is None:
        return cmd
    return [taskset, "-c", str(cpu), *cmd]


def split_pg_url(url: str) -> tuple[str, str, dict[str, str]]:
    """(asyncpg DSN without tortoise's query options, database name, those options)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "asyncpg"):
        raise ValueError(f"not a PostgreSQL URL: {url}")
    options = dict(parse_qsl(parts.query))
    kept = urlencode({k: v for k, v in options.items() if k in ASYNCPG_DSN_OPTIONS})
    dsn = urlunsplit(parts._replace(scheme="postgres", query=kept))
    return dsn, parts.path.lstrip("/"), options


async def recreate_database(url: str, connect_timeout: float = 10) -> None:
    """Drop and create the bench's own database. A fresh one each run: rows, dead tuples and
    index growth left by earlier runs (autovacuum may be off) would slow what is measured."""
    import asyncpg

    dsn, name, _ = split_pg_url(url)
    if not BENCH_DATABASE.fullmatch(name):
        raise ValueError(
            f"the database is dropped and re-created: its name must start affrace_bench ({name!r})"
        )
    admin = urlunsplit(urlsplit(dsn)._replace(path="/postgres"))
    conn = await asyncio.wait_for(asyncpg.connect(admin), connect_timeout)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        log(f"created database {name} (fresh)")
    finally:
        await conn.close()


RACE_ENTRY_COLUMNS = [
    "id",
    "race_id",
    "affiliate_id",
    "score",
    "provisional",
    "reached_at",
    "joined_at",
]

# What the scoring path does for many entries at once: raise the scores of the entries with
# ids $1 by $2, set reached_at to $3, and mark each for the next tick (as RaceService.apply()
# does one event at a time), in one statement.
MOVE_SQL = (
    "WITH moved AS (UPDATE race_entry AS e SET score = e.score + d.delta, reached_at = $3 "
    "FROM unnest($1::bigint[], $2::bigint[]) AS d(id, delta) WHERE e.id = d.id "
    "RETURNING e.id, e.race_id, e.affiliate_id, e.score, e.reached_at, e.best_rank) "
    "INSERT INTO race_mark (entry_id, race_id, affiliate_id, score, reached_at, best_rank) "
    "SELECT * FROM moved ON CONFLICT (entry_id) DO UPDATE SET score = excluded.score, "
    "reached_at = excluded.reached_at, best_rank = excluded.best_rank"
)


async def copy_race_entries(conn: Any, records: list[tuple[Any, ...]]) -> None:
    """COPY race entries (tuples in RACE_ENTRY_COLUMNS order) into PostgreSQL."""
    await conn.copy_records_to_table("race_entry", records=records, columns=RACE_ENTRY_COLUMNS)


def refuse_shared_redis(parser: Any, redis_url: str) -> None:
    """The benches flush or fill their Redis database: never /0 (an app's) or /15 (the tests')."""
    if redis_url.rstrip("/").endswith(("/0", "/15")):
        parser.error("use a scratch Redis database (e.g. /14), not /0 or /15")
