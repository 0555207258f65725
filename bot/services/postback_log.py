"""The postback log: what each advertiser's server sent and what it got, rejected postbacks
included, so an admin can debug an integration. Secrets are masked before anything is kept.

Written in the background: a postback's answer never waits for its log line (a batch is
stored every FLUSH_SECONDS; a crash loses at most that much of the log, never a conversion).
Each offer keeps its newest `per_offer` lines (POSTBACK_LOG_PER_OFFER); postbacks to offers
that do not exist share one such bucket, so no sender can fill the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from loguru import logger
from tortoise.exceptions import BaseORMException
from tortoise.transactions import in_transaction

from bot.errors import outage
from bot.services.sql import connection, db_time, is_postgres, multi_insert, placeholders
from models import Offer, PostbackLog

MASKED = ("sig", "token", "secret", "signature", "hash")
QUEUE_MAX = 20_000  # lines waiting for the next batch; past it the oldest are dropped
FLUSH_SECONDS = 0.5
PAGE_SIZE = 8


VALUE_KEPT = 200
PARAMS_KEPT = 4000  # characters of parameters kept per line (a flood of them is cut)


def mask(params: Mapping[str, str]) -> dict[str, str]:
    """The parameters as the log keeps them: every secret shown as its first four characters
    and a mark, long values cut, and no more than PARAMS_KEPT characters in all."""
    kept: dict[str, str] = {}
    size = 0
    for key, value in params.items():
        shown = (value[:4] + "…" if value else "") if key.lower() in MASKED else value
        shown = shown if len(shown) <= VALUE_KEPT else shown[:VALUE_KEPT] + "…"
        size += len(key) + len(shown)
        if size > PARAMS_KEPT:
            kept["…"] = f"{len(params) - len(kept)} more"
            break
        kept[key[:64]] = shown
    return kept


@dataclass(slots=True)
class Pending:
    """A line waiting for the next batch: plain data, cheaper to build than a model on the
    path of every postback."""

    offer_id: int | None
    result: str
    http_status: int
    reason: str
    params: str  # JSON, masked
    ip: str
    created_at: datetime


COLUMNS = ("offer_id", "result", "http_status", "reason", "params", "ip", "created_at")
# PostgreSQL: the whole batch as seven arrays, one statement text whatever its size.
PG_INSERT = (
    f"INSERT INTO postback_log ({', '.join(COLUMNS)}) SELECT * FROM unnest($1::int[], "
    "$2::varchar[], $3::smallint[], $4::varchar[], $5::text[], $6::varchar[], $7::timestamptz[])"
)
ROWS_AT_ONCE = 400  # SQLite: rows per INSERT (seven parameters each)


async def store(lines: list[Pending]) -> None:
    """Store a batch of lines in one transaction."""
    async with in_transaction() as conn:
        if is_postgres(conn):
            columns = [[getattr(line, name) for line in lines] for name in COLUMNS]
            await conn.execute_query(PG_INSERT, columns)
            return
        for start in range(0, len(lines), ROWS_AT_ONCE):
            chunk = lines[start : start + ROWS_AT_ONCE]
            values: list[object] = []
            for line in chunk:
                values += [getattr(line, name) for name in COLUMNS[:-1]]
                values.append(db_time(conn, line.created_at))
            await conn.execute_query(
                multi_insert(conn, "postback_log", COLUMNS, len(chunk)), values
            )


@dataclass(frozen=True, slots=True)
class LogLine:
    id: int
    at: datetime
    result: str
    http_status: int
    reason: str
    params: dict[str, str]
    ip: str


class PostbackJournal:
    def __init__(
        self, per_offer: int, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.per_offer = per_offer
        self.clock = clock
        self.queue: deque[Pending] = deque(maxlen=QUEUE_MAX)
        self.dropped = 0
        self._since_trim: Counter[int | None] = Counter()
        self._known: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    def note(
        self,
        offer_id: int | None,
        params: Mapping[str, str],
        ip: str,
        result: str,
        http_status: int,
        reason: str | None,
    ) -> None:
        """Keep one postback for the log (stored with the next batch)."""
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append(
            Pending(
                offer_id,
                result,
                http_status,
                (reason or "")[:256],
                json.dumps(mask(params), ensure_ascii=False),
                ip[:64],
                self.clock(),
            )
        )

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="postback-log")

    async def close(self) -> None:
        """Stop the background writer and store what waits, if the database lets us: the
        log never holds up a shutdown."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception as exc:  # the writer never dies: the next batch tries again
                if outage(exc) is None and not isinstance(exc, (BaseORMException, OSError)):
                    logger.opt(exception=exc).error("postback log not stored")
                else:
                    logger.debug("postback log not stored yet: {!r}", exc)

    async def flush(self) -> int:
        """Store what waits (one transaction), then trim the offers that grew past their cap."""
        batch = list(self.queue)
        if not batch:
            return 0
        self.queue.clear()
        try:
            await self._bucket_unknown(batch)
            await store(batch)
        except BaseException:
            room = QUEUE_MAX - len(self.queue)  # back in front, as far as there is room
            self.queue.extendleft(reversed(batch[-room:] if room > 0 else []))
            raise
        for line in batch:
            self._since_trim[line.offer_id] += 1
        due = [o for o, n in self._since_trim.items() if n >= max(1, self.per_offer // 10)]
        for offer_id in due:
            await self.trim(offer_id)
            del self._since_trim[offer_id]
        return len(batch)

    async def _bucket_unknown(self, batch: list[Pending]) -> None:
        """Lines for offers that do not exist go to the shared bucket (offer None)."""
        asked = {line.offer_id for line in batch if line.offer_id is not None} - self._known
        if asked:
            self._known |= {o.id for o in await Offer.filter(id__in=asked).only("id")}
        for line in batch:
            if line.offer_id is not None and line.offer_id not in self._known:
                line.reason = f"offer {line.offer_id}: {line.reason}"[:256]
                line.offer_id = None

    async def trim(self, offer_id: int | None) -> None:
        """Keep the newest `per_offer` lines of one offer (or of the unknown bucket)."""
        conn = connection()
        keep_from = "(SELECT id FROM postback_log WHERE {w} ORDER BY id DESC LIMIT 1 OFFSET {o})"
        if offer_id is None:
            p = placeholders(conn, 1)
            where = "offer_id IS NULL"
            sql = f"DELETE FROM postback_log WHERE {where} AND id < " + keep_from.format(
                w=where, o=p["p1"]
            )
            args: list[int] = [self.per_offer - 1]
        else:
            p = placeholders(conn, 3)
            sql = f"DELETE FROM postback_log WHERE offer_id = {p['p1']} AND id < " + (
                keep_from.format(w=f"offer_id = {p['p2']}", o=p["p3"])
            )
            args = [offer_id, offer_id, self.per_offer - 1]
        await conn.execute_query(sql, args)

    async def recent(self, offer_id: int | None, page: int = 0) -> tuple[list[LogLine], bool]:
        """The newest first, a page at a time; and whether an older page exists."""
        rows = (
            await PostbackLog.filter(offer_id=offer_id)
            .order_by("-id")
            .offset(page * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
        lines = [
            LogLine(
                r.id, r.created_at, r.result, r.http_status, r.reason, json.loads(r.params), r.ip
            )
            for r in rows[:PAGE_SIZE]
        ]
        return lines, len(rows) > PAGE_SIZE
