"""CSV exports for admins, streamed: rows are read in keyset pages and written as they come,
so a million rows never sit in memory, and the event loop is handed back after every page.

UTF-8 with a header row, money as decimal strings, times in ISO 8601 UTC. A file over
Telegram's upload limit is gzipped instead, and split into parts (each a complete gzip file
with its own header row) when even that is too big.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import shutil
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.services.amounts import from_minor
from bot.services.sql import as_datetime, connection, is_postgres, placeholders

PAGE = 5000
UPLOAD_LIMIT = 50 * 1024 * 1024  # Telegram's limit for a bot's upload
PART_LIMIT = 45 * 1024 * 1024  # a gzip part is closed past this (room for the last rows)


class ExportKind(StrEnum):
    AFFILIATES = "affiliates"
    CLICKS_7D = "clicks-7d"
    CLICKS_30D = "clicks-30d"
    CONVERSIONS = "conversions"
    LEDGER = "ledger"
    RACES = "race-results"


@dataclass
class ExportFile:
    path: Path
    rows: int


@dataclass
class Export:
    kind: ExportKind
    rows: int
    files: list[ExportFile] = field(default_factory=list)
    gzipped: bool = False


def iso(value: object) -> str:
    return "" if value is None else as_datetime(value).astimezone(UTC).isoformat()


def money(minor: object, currency: object) -> str:
    return "" if minor is None else str(from_minor(int(str(minor)), str(currency)))


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    sql: str  # with {where} for extra conditions and {after}/{limit} placeholders
    row: Callable[[dict[str, Any]], Sequence[object]]
    since_days: int | None = None


TABLES: dict[ExportKind, Table] = {
    ExportKind.AFFILIATES: Table(
        (
            "id",
            "tg_id",
            "username",
            "first_name",
            "last_name",
            "language",
            "joined_at",
            "started_at",
            "banned",
            "ban_reason",
            "referrer_id",
        ),
        "SELECT a.id, a.tg_id, a.username, a.first_name, a.last_name, a.language, "
        "a.created_at, a.started_at, a.is_banned, a.ban_reason, r.referrer_id "
        "FROM affiliate a LEFT JOIN referral r ON r.referred_id = a.id "
        "WHERE a.id > {after} ORDER BY a.id LIMIT {limit}",
        lambda r: (
            r["id"],
            r["tg_id"],
            r["username"] or "",
            r["first_name"],
            r["last_name"] or "",
            r["language"] or "",
            iso(r["created_at"]),
            iso(r["started_at"]),
            "yes" if r["is_banned"] else "no",
            r["ban_reason"],
            r["referrer_id"] or "",
        ),
    ),
    ExportKind.CLICKS_7D: Table(
        (
            "id",
            "click_id",
            "created_at",
            "affiliate_id",
            "link_code",
            "offer_id",
            "sub",
            "unique",
            "bot",
        ),
        "SELECT c.id, c.click_id, c.created_at, l.affiliate_id, l.code, l.offer_id, c.sub, "
        "c.is_unique, c.is_bot FROM click c JOIN link l ON l.id = c.link_id "
        "WHERE c.id > {after} AND c.created_at >= {since} ORDER BY c.id LIMIT {limit}",
        lambda r: (
            r["id"],
            r["click_id"],
            iso(r["created_at"]),
            r["affiliate_id"],
            r["code"],
            r["offer_id"] or "",
            r["sub"] or "",
            "yes" if r["is_unique"] else "no",
            "yes" if r["is_bot"] else "no",
        ),
        since_days=7,
    ),
    ExportKind.CONVERSIONS: Table(
        (
            "id",
            "created_at",
            "affiliate_id",
            "offer_id",
            "event",
            "status",
            "amount",
            "commission",
            "currency",
            "txid",
            "sub",
        ),
        "SELECT id, created_at, affiliate_id, offer_id, event, status, amount_minor, "
        "commission_minor, currency, txid, sub FROM conversion "
        "WHERE id > {after} ORDER BY id LIMIT {limit}",
        lambda r: (
            r["id"],
            iso(r["created_at"]),
            r["affiliate_id"],
            r["offer_id"],
            r["event"],
            r["status"],
            money(r["amount_minor"], r["currency"]),
            money(r["commission_minor"], r["currency"]),
            r["currency"],
            r["txid"],
            r["sub"] or "",
        ),
    ),
    ExportKind.LEDGER: Table(
        ("id", "created_at", "affiliate_id", "kind", "amount", "currency", "note"),
        "SELECT id, created_at, affiliate_id, kind, amount_minor, currency, note FROM ledger "
        "WHERE id > {after} ORDER BY id LIMIT {limit}",
        lambda r: (
            r["id"],
            iso(r["created_at"]),
            r["affiliate_id"],
            r["kind"],
            money(r["amount_minor"], r["currency"]),
            r["currency"],
            r["note"],
        ),
    ),
    ExportKind.RACES: Table(
        (
            "entry_id",
            "race_id",
            "race",
            "status",
            "metric",
            "affiliate_id",
            "score",
            "final_place",
            "prize",
            "prize_text",
            "currency",
        ),
        "SELECT e.id, e.race_id, r.title, r.status, r.metric, e.affiliate_id, e.score, "
        "e.final_place, e.prize_minor, e.prize_text, r.currency FROM race_entry e "
        "JOIN race r ON r.id = e.race_id WHERE e.id > {after} ORDER BY e.id LIMIT {limit}",
        lambda r: (
            r["id"],
            r["race_id"],
            r["title"],
            r["status"],
            r["metric"],
            r["affiliate_id"],
            r["score"],
            r["final_place"] or "",
            money(r["prize_minor"], r["currency"]),
            r["prize_text"],
            r["currency"],
        ),
    ),
}
TABLES[ExportKind.CLICKS_30D] = Table(
    TABLES[ExportKind.CLICKS_7D].header,
    TABLES[ExportKind.CLICKS_7D].sql,
    TABLES[ExportKind.CLICKS_7D].row,
    since_days=30,
)


class Parts:
    """Where the CSV goes: a plain file while it fits an upload, then gzip parts."""

    def __init__(self, folder: Path, name: str, header: Sequence[str], limit: int) -> None:
        self.folder, self.name, self.header, self.limit = folder, name, header, limit
        self.plain = folder / f"{name}.csv"
        self.files: list[ExportFile] = [ExportFile(self.plain, 0)]
        self._raw = self.plain.open("w", newline="", encoding="utf-8")
        self._gz: gzip.GzipFile | None = None
        self._gz_file: Any = None
        self.write_rows([header], count=False)

    @property
    def gzipped(self) -> bool:
        return self._gz is not None

    def write_rows(self, rows: Sequence[Sequence[object]], count: bool = True) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        data = buffer.getvalue()
        if self._gz is None:
            self._raw.write(data)
        else:
            self._gz.write(data.encode("utf-8"))
        if count:
            self.files[-1].rows += len(rows)
        if self._gz is None:
            if self._raw.tell() > self.limit:
                self._to_gzip()
        else:
            self._gz.flush(zlib.Z_SYNC_FLUSH)  # what zlib holds back counts too (once a page)
            if self._gz_file.tell() > self.limit * PART_LIMIT // UPLOAD_LIMIT:
                self._next_part()

    def _open_part(self) -> None:
        path = self.folder / f"{self.name}.part{len(self.files) + 1}.csv.gz"
        if not self.gzipped:
            path = self.folder / f"{self.name}.csv.gz"
        self._gz_file = path.open("wb")
        self._gz = gzip.GzipFile(fileobj=self._gz_file, mode="wb", compresslevel=6)
        self.files.append(ExportFile(path, 0))

    def _to_gzip(self) -> None:
        """Over the upload limit as plain text: what was written moves into gzip."""
        self._raw.close()
        rows = self.files.pop().rows
        self._open_part()
        assert self._gz is not None
        with self.plain.open("rb") as plain:
            shutil.copyfileobj(plain, self._gz, 1024 * 1024)
        self.files[-1].rows = rows
        self.plain.unlink()

    def _next_part(self) -> None:
        self._close_gz()
        first = self.files[0]
        if first.path.name == f"{self.name}.csv.gz":  # name the parts once there are two
            renamed = self.folder / f"{self.name}.part1.csv.gz"
            first.path.rename(renamed)
            first.path = renamed
        self._open_part()
        assert self._gz is not None
        self._gz.write(self._header_line())

    def _header_line(self) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(self.header)
        return buffer.getvalue().encode("utf-8")

    def _close_gz(self) -> None:
        if self._gz is not None:
            self._gz.close()
            self._gz_file.close()

    def close(self) -> None:
        if self._gz is None:
            self._raw.close()
        else:
            self._close_gz()


class ExportService:
    def __init__(
        self,
        limit: int = UPLOAD_LIMIT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page: int = PAGE,
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.page = page  # rows a query reads; a file overshoots its limit by a page at most

    async def rows(self, kind: ExportKind) -> AsyncIterator[list[dict[str, Any]]]:
        """The table's rows, a page at a time (keyset on the id: no OFFSET scans)."""
        table = TABLES[kind]
        conn = connection()
        since = None
        if table.since_days is not None:
            since = self.clock() - timedelta(days=table.since_days)
        after = 0
        p = placeholders(conn, 3)
        if since is None:
            sql = table.sql.format(after=p["p1"], limit=p["p2"])
        else:  # in the order they appear (SQLite's ? are positional)
            sql = table.sql.format(after=p["p1"], since=p["p2"], limit=p["p3"])
        while True:
            args: list[object] = [after, self.page]
            if since is not None:
                # SQLite keeps times as text in str(datetime)'s form, which then sorts right
                at: object = since if is_postgres(conn) else str(since.astimezone(UTC))
                args = [after, at, self.page]
            page = await conn.execute_query_dict(sql, args)
            if not page:
                return
            yield page
            after = int(page[-1]["id"])
            if len(page) < self.page:
                return

    async def write(self, kind: ExportKind, folder: Path) -> Export:
        """The export as one CSV file, or gzip parts when it is too big for Telegram."""
        table = TABLES[kind]
        stamp = self.clock().strftime("%Y%m%d-%H%M")
        parts = Parts(folder, f"{kind.value}-{stamp}", table.header, self.limit)
        total = 0
        try:
            async for page in self.rows(kind):
                parts.write_rows([table.row(r) for r in page])
                total += len(page)
                await asyncio.sleep(0)  # the redirects and replies sharing the loop go on
        finally:
            parts.close()
        return Export(kind, total, parts.files, parts.gzipped)
