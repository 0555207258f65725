"""The one set of migrations serves SQLite and PostgreSQL, both ways, without losing data."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.migrations.api import migrate as migrate_api

from bot import db
from tests.stack import TEST_DATABASE_URL, recreate_pg_database

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"affiliate", "offer", "link", "sublink", "click", "referral"}


async def tables(url: str) -> set[str]:
    await db.init(url)
    try:
        conn = Tortoise.get_connection("default")
        if url.startswith("sqlite"):
            _, rows = await conn.execute_query("SELECT name FROM sqlite_master WHERE type='table'")
        else:
            _, rows = await conn.execute_query(
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
            )
        return {r["name"] for r in rows} & TABLES
    finally:
        await db.close()


@pytest.fixture(params=["sqlite"] + (["postgres"] if TEST_DATABASE_URL else []))
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'm.sqlite3'}"
    assert TEST_DATABASE_URL
    url = TEST_DATABASE_URL.rsplit("/", 1)[0] + "/affrace_migrations"
    await recreate_pg_database(url)
    return url


async def test_migrations_upgrade_downgrade_upgrade(empty_db: str) -> None:
    await db.migrate(empty_db)
    assert await tables(empty_db) == TABLES

    await migrate_api(
        config=db.tortoise_config(empty_db), target="models.__first__", direction="backward"
    )
    await Tortoise.close_connections()
    assert await tables(empty_db) == set()

    await db.migrate(empty_db)
    assert await tables(empty_db) == TABLES


def sqlite_schema(path: Path) -> dict[str, object]:
    """Columns (name, type, not null, default) and indexes (columns, unique) per table."""
    conn = sqlite3.connect(path)
    try:
        schema: dict[str, object] = {}
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                "AND name != 'tortoise_migrations'"
            )
        ]
        for table in names:
            cols = sorted(
                (r[1], r[2], r[3], r[4]) for r in conn.execute(f'PRAGMA table_info("{table}")')
            )
            idx = sorted(
                (tuple(c[2] for c in conn.execute(f'PRAGMA index_info("{i[1]}")')), i[2])
                for i in conn.execute(f'PRAGMA index_list("{table}")')
                if i[3] != "pk"
            )
            schema[table] = (cols, idx)
        return schema
    finally:
        conn.close()


async def test_migrations_build_exactly_the_models_schema(tmp_path: Path) -> None:
    migrated, generated = tmp_path / "migrated.sqlite3", tmp_path / "generated.sqlite3"
    await db.migrate(f"sqlite://{migrated}")
    await Tortoise.init(config=db.tortoise_config(f"sqlite://{generated}"))
    await Tortoise.generate_schemas()
    await Tortoise.close_connections()

    assert sqlite_schema(migrated) == sqlite_schema(generated)


REBUILD = """
from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]
    operations = [
        ops.AlterField(model_name="Affiliate", name="first_name",
                       field=fields.CharField(max_length=200, default="", db_default="")),
        ops.AlterField(model_name="Link", name="code",
                       field=fields.CharField(max_length=24, unique=True)),
    ]
"""


@pytest.fixture
def rebuild_migrations(tmp_path: Path) -> Iterator[str]:
    """A migrations package: ours, plus one that makes SQLite rebuild parent and child tables."""
    package = tmp_path / "rebuild_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "migrations" / "0001_initial.py", package / "0001_initial.py")
    (package / "0002_rebuild.py").write_text(REBUILD)
    sys.path.insert(0, str(tmp_path))
    yield "rebuild_migrations"
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("rebuild_migrations")]:
        del sys.modules[name]


def populate(path: Path) -> None:
    conn = sqlite3.connect(path)
    now = "2026-01-01 00:00:00+00:00"
    with conn:
        for i in range(1, 4):
            conn.execute(
                "INSERT INTO affiliate (tg_id, first_name, created_at, updated_at) "
                "VALUES (?,?,?,?)",
                (i, f"A{i}", now, now),
            )
            conn.execute(
                "INSERT INTO link (code, created_at, affiliate_id) VALUES (?,?,?)",
                (f"code{i:04d}", now, i),
            )
            conn.execute(
                "INSERT INTO click (click_id, link_id, visitor, is_unique, is_bot, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (f"c{i}", i, "v", 1, 0, now),
            )
            conn.execute(
                "INSERT INTO sublink (affiliate_id, label, created_at) VALUES (?,?,?)",
                (i, "yt", now),
            )
        conn.execute(
            "INSERT INTO referral (referrer_id, referred_id, link_id, created_at) "
            "VALUES (1, 2, 1, ?)",
            (now,),
        )
    conn.close()


def populate_pg_or_sqlite_sql() -> list[str]:
    now = "'2026-01-01 00:00:00+00:00'"
    rows = [
        f"INSERT INTO offer (title, kind, target_url, created_at, updated_at) VALUES "
        f"('Shop', 'url', 'https://x.test/', {now}, {now})"
    ]
    for i in range(1, 4):
        rows += [
            f"INSERT INTO affiliate (tg_id, first_name, created_at, updated_at) "
            f"VALUES ({i}, 'A{i}', {now}, {now})",
            f"INSERT INTO link (code, created_at, affiliate_id, offer_id) "
            f"VALUES ('code{i:04d}', {now}, {i}, 1)",
            f"INSERT INTO click (click_id, link_id, visitor, is_unique, is_bot, created_at) "
            f"VALUES ('c{i}', {i}, 'v', true, false, {now})",
        ]
    rows.append(
        f"INSERT INTO referral (referrer_id, referred_id, link_id, created_at) "
        f"VALUES (1, 2, 1, {now})"
    )
    return rows


async def row_counts(url: str) -> dict[str, int]:
    await db.init(url)
    try:
        conn = Tortoise.get_connection("default")
        result = {}
        for table in sorted(TABLES):
            _, rows = await conn.execute_query(f"SELECT COUNT(*) AS n FROM {table}")
            result[table] = rows[0]["n"]
        return result
    finally:
        await db.close()


async def test_every_later_migration_keeps_the_rows_of_a_populated_database(
    empty_db: str, tmp_path: Path
) -> None:
    await db.migrate(empty_db, target="models.0001_initial")
    await db.init(empty_db)
    for statement in populate_pg_or_sqlite_sql():
        await Tortoise.get_connection("default").execute_script(statement)
    await db.close()
    before = await row_counts(empty_db)

    await db.migrate(empty_db)

    assert await row_counts(empty_db) == before
    assert before["link"] == 3 and before["click"] == 3
    if empty_db.startswith("sqlite"):
        generated = tmp_path / "generated.sqlite3"
        await Tortoise.init(config=db.tortoise_config(f"sqlite://{generated}"))
        await Tortoise.generate_schemas()
        await Tortoise.close_connections()
        migrated = sqlite_schema(Path(empty_db.removeprefix("sqlite://")))
        assert {t: v[1] for t, v in migrated.items()} == {  # type: ignore[index]
            t: v[1]
            for t, v in sqlite_schema(generated).items()  # type: ignore[index]
        }


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in sorted(TABLES)}
    finally:
        conn.close()


async def test_sqlite_table_rebuild_keeps_rows_indexes_and_unique_constraints(
    tmp_path: Path, rebuild_migrations: str
) -> None:
    path = tmp_path / "populated.sqlite3"
    await db.migrate(f"sqlite://{path}")
    populate(path)
    before_rows, before_schema = counts(path), sqlite_schema(path)

    await db.migrate(f"sqlite://{path}", migrations=rebuild_migrations)

    after = sqlite_schema(path)
    assert counts(path) == before_rows
    for table in TABLES:
        assert after[table][1] == before_schema[table][1], table  # type: ignore[index]
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO sublink (affiliate_id, label, created_at) VALUES (1, 'yt', 'x')")
    conn.close()


async def test_plain_tortoise_rebuild_would_lose_child_rows(
    tmp_path: Path, rebuild_migrations: str
) -> None:
    """The hazard our migrate() guards against, shown on tortoise's own runner."""
    path = tmp_path / "plain.sqlite3"
    await db.migrate(f"sqlite://{path}")
    populate(path)

    await migrate_api(config=db.tortoise_config(f"sqlite://{path}", rebuild_migrations))
    await Tortoise.close_connections()

    assert counts(path)["click"] < 3 or counts(path)["link"] < 3


async def test_who_had_turned_all_news_off_keeps_every_category_off(empty_db: str) -> None:
    await db.migrate(empty_db, target="models.0005_outbox_bulk")
    await db.init(empty_db)
    now = "'2026-01-01 00:00:00+00:00'"
    for tg_id, notify in ((1, "true"), (2, "false")):
        await Tortoise.get_connection("default").execute_script(
            f"INSERT INTO affiliate (tg_id, first_name, notify, created_at, updated_at) "
            f"VALUES ({tg_id}, 'A', {notify}, {now}, {now})"
        )
    await db.close()

    await db.migrate(empty_db)

    await db.init(empty_db)
    try:
        from models import Affiliate, Category

        on, off = await Affiliate.all().order_by("tg_id")
        assert not any(on.mutes(c) for c in Category)
        assert all(off.mutes(c) for c in Category)
    finally:
        await db.close()


async def test_0007_keeps_payout_requests_and_their_ledger_rows(empty_db: str) -> None:
    await db.migrate(empty_db, target="models.0006_affiliate_muted")
    await db.init(empty_db)
    conn = Tortoise.get_connection("default")
    await conn.execute_script(
        "INSERT INTO affiliate (tg_id, first_name, created_at, updated_at) "
        "VALUES (7, 'Ann', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    await conn.execute_script(
        "INSERT INTO payout_request (affiliate_id, amount_minor, currency, details, status, "
        "note, created_at) VALUES (1, 2500, 'USD', 'wallet', 'open', '', CURRENT_TIMESTAMP)"
    )
    await conn.execute_script(
        "INSERT INTO ledger (affiliate_id, kind, amount_minor, currency, key, note, "
        "created_at) VALUES (1, 'payout', -2500, 'USD', 'p1:out', '', CURRENT_TIMESTAMP)"
    )
    await db.close()

    await db.migrate(empty_db)

    await db.init(empty_db)
    try:
        conn = Tortoise.get_connection("default")
        _, payouts = await conn.execute_query(
            "SELECT status, reference, paid_at FROM payout_request"
        )
        _, ledger = await conn.execute_query("SELECT amount_minor FROM ledger")
        _, people = await conn.execute_query("SELECT is_admin, ban_reason FROM affiliate")
    finally:
        await db.close()
    assert [dict(r) for r in payouts] == [{"status": "open", "reference": "", "paid_at": None}]
    assert [r["amount_minor"] for r in ledger] == [-2500]
    assert [(bool(r["is_admin"]), r["ban_reason"]) for r in people] == [(False, "")]


async def test_0010_keeps_every_score_the_board_had_not_seen_for_the_next_tick(
    empty_db: str,
) -> None:
    """Scores that moved just before the upgrade (a dirty entry) still reach the board: 0010
    turns each dirty flag into a race_mark holding the entry's score; the others need none."""
    await db.migrate(empty_db, target="models.0009_race_entry_no_score_index")
    await db.init(empty_db)
    conn = Tortoise.get_connection("default")
    for tg_id in (7, 8):
        await conn.execute_script(
            "INSERT INTO affiliate (tg_id, first_name, created_at, updated_at) "
            f"VALUES ({tg_id}, 'A', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
    await conn.execute_script(
        "INSERT INTO race (title, metric, starts_at, ends_at, status, tie_break, created_at) "
        "VALUES ('Cup', 'clicks', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'running', 'first', "
        "CURRENT_TIMESTAMP)"
    )
    for affiliate, score, dirty in ((1, 7, "TRUE"), (2, 3, "FALSE")):
        await conn.execute_script(
            "INSERT INTO race_entry (race_id, affiliate_id, score, provisional, reached_at, "
            f"dirty, best_rank, prize_text, joined_at) VALUES (1, {affiliate}, {score}, 0, "
            f"CURRENT_TIMESTAMP, {dirty}, 4, '', CURRENT_TIMESTAMP)"
        )
    await db.close()

    await db.migrate(empty_db)

    await db.init(empty_db)
    try:
        conn = Tortoise.get_connection("default")
        _, marks = await conn.execute_query(
            "SELECT race_id, affiliate_id, score, best_rank FROM race_mark"
        )
        _, entries = await conn.execute_query(
            "SELECT affiliate_id, score FROM race_entry ORDER BY affiliate_id"
        )
    finally:
        await db.close()
    assert [tuple(dict(r).values()) for r in marks] == [(1, 1, 7, 4)]
    assert [tuple(dict(r).values()) for r in entries] == [(1, 7), (2, 3)]
