"""CSV exports: what an admin opens in a spreadsheet (UTF-8, a header, decimal money, ISO
UTC times), gzipped and split past Telegram's upload limit, and a million rows streamed in
bounded memory."""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tortoise import Tortoise

from bot import db
from bot.services.conversions import Claim
from bot.services.exports import ExportKind, ExportService
from models import ConversionStatus, Offer
from tests.factories import Factory, make_click
from tests.stack import Stack


def read_csv(path: Path) -> list[list[str]]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return list(csv.reader(io.StringIO(raw.decode("utf-8"))))


async def test_an_export_is_utf8_csv_with_a_header_decimal_money_and_utc_times(
    stack: Stack, factory: Factory, tmp_path: Path
) -> None:
    alice = await factory.affiliate(tg_id=21, name="Алиса, «the best»")
    offer = await factory.offer(hold_days=0)
    await Offer.filter(id=offer.id).update(payout_minor=1250)
    offer = await Offer.get(id=offer.id)
    link = await factory.link(alice, offer)
    await stack.services.conversions.record(
        Claim(offer, link, None, None, "T-1", "sale", 9999, "USD", ConversionStatus.APPROVED)
    )

    people = await ExportService().write(ExportKind.AFFILIATES, tmp_path)
    money = await ExportService().write(ExportKind.CONVERSIONS, tmp_path)

    rows = read_csv(people.files[0].path)
    assert rows[0][:4] == ["id", "tg_id", "username", "first_name"]
    assert rows[1][3] == "Алиса, «the best»" and people.rows == 1 and not people.gzipped
    conversion = dict(
        zip(read_csv(money.files[0].path)[0], read_csv(money.files[0].path)[1], strict=True)
    )
    assert conversion["amount"] == "99.99" and conversion["commission"] == "12.50"
    assert conversion["created_at"].endswith("+00:00")
    assert datetime.fromisoformat(conversion["created_at"]).tzinfo is not None


async def test_clicks_by_period_and_past_the_limit_gzip_parts_each_with_the_header(
    stack: Stack, factory: Factory, tmp_path: Path
) -> None:
    link = await factory.link(await factory.affiliate(tg_id=21))
    await make_click(link, seconds_ago=10 * 86_400)  # outside 7 days, inside 30
    conn = Tortoise.get_connection("default")
    now = datetime.now(UTC)
    rows = [
        (f"c{i:08d}", link.id, "v", True, False, now - timedelta(seconds=i)) for i in range(20_000)
    ]
    for i in range(0, len(rows), 1000):
        await conn.execute_many(
            "INSERT INTO click (click_id, link_id, visitor, is_unique, is_bot, created_at) "
            + (
                "VALUES ($1, $2, $3, $4, $5, $6)"
                if "postgres" in conn.capabilities.dialect
                else "VALUES (?, ?, ?, ?, ?, ?)"
            ),
            [
                list(r) if "postgres" in conn.capabilities.dialect else [*r[:5], str(r[5])]
                for r in rows[i : i + 1000]
            ],
        )

    week = await ExportService(limit=60_000, page=500).write(ExportKind.CLICKS_7D, tmp_path)
    month = await ExportService().write(ExportKind.CLICKS_30D, tmp_path)

    assert month.rows == 20_001 and not month.gzipped and len(month.files) == 1
    assert week.rows == 20_000 and week.gzipped and len(week.files) > 1
    seen: list[str] = []
    for part in week.files:
        content = read_csv(part.path)
        assert part.path.name.endswith(".csv.gz") and ".part" in part.path.name
        assert content[0][:2] == ["id", "click_id"]  # each part opens with the header
        assert len(content) - 1 == part.rows
        assert part.path.stat().st_size <= 60_000
        seen += [r[1] for r in content[1:]]
    assert len(seen) == len(set(seen)) == 20_000


@pytest.fixture
async def million(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[str]:
    """A SQLite database with a million clicks (on one link)."""
    path = tmp_path / "million.sqlite3"
    shutil.copy(sqlite_template, path)
    url = f"sqlite://{path}"
    await db.init(url)
    try:
        factory = Factory()
        link = await factory.link(await factory.affiliate(tg_id=7))
        conn = Tortoise.get_connection("default")
        at = str(datetime.now(UTC))
        for start in range(0, 1_000_000, 50_000):
            await conn.execute_many(
                "INSERT INTO click (click_id, link_id, visitor, is_unique, is_bot, created_at) "
                "VALUES (?, ?, 'v', 1, 0, ?)",
                [[f"{i:032x}", link.id, at] for i in range(start, start + 50_000)],
            )
        yield url
    finally:
        await db.close()


async def test_a_million_rows_are_exported_in_under_50_mb_of_memory(
    million: str, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    tracemalloc.start()
    started = time.monotonic()
    try:
        done = await ExportService().write(ExportKind.CLICKS_7D, folder)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    took = time.monotonic() - started

    size = sum(f.path.stat().st_size for f in done.files)
    print(
        f"\n1,000,000 clicks exported in {took:.1f} s, peak {peak / 2**20:.1f} MiB, "
        f"{len(done.files)} file(s), {size / 2**20:.1f} MiB, gzipped={done.gzipped}"
    )
    assert done.rows == 1_000_000
    assert peak < 50 * 2**20
    assert done.gzipped  # 1M rows of clicks are well over 50 MB as plain CSV
    assert all(f.path.stat().st_size <= 50 * 2**20 for f in done.files)
