"""Database set-up: one tortoise config for SQLite and PostgreSQL, migrations, clean close."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate as migrate_api

MODELS = ["models"]
MIGRATIONS = "migrations"


async def keep_session(connection: object) -> None:
    """asyncpg's pool `reset`: nothing beyond what the pool always does.

    By default asyncpg sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    each time a connection goes back to the pool: a second round trip for every query tortoise
    makes. This app takes no advisory locks, opens no cursors outside a transaction, LISTENs to
    nothing and SETs nothing, so that query has nothing to undo. A transaction left open is
    still rolled back (the pool does that before calling this).
    """


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Bounds on every wait for PostgreSQL, in seconds (None: no bound).

    `statement` is set on the server (statement_timeout, a clean error for a slow query) and,
    a second longer, on the client (asyncpg's command_timeout, for a server that does not
    answer at all); `acquire` bounds the wait for a pooled connection.
    """

    connect: float = 5.0
    statement: float | None = 10.0
    acquire: float = 5.0


MIGRATION_TIMEOUTS = Timeouts(statement=None)  # a migration may rightly take long


def tortoise_config(
    database_url: str, migrations: str = MIGRATIONS, timeouts: Timeouts = Timeouts()
) -> dict[str, Any]:
    """The TORTOISE_ORM dict: one app, `models`, whose schema lives in `migrations/`."""
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite://") and url != "sqlite://:memory:":
        Path(url.removeprefix("sqlite://")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connection: str | dict[str, Any] = url
    if url.startswith("postgres://"):
        connection = expand_db_url(url)
        connection["engine"] = "bot.asyncpg_client"
        credentials = connection["credentials"]
        credentials["reset"] = keep_session
        credentials["timeout"] = timeouts.connect
        credentials["acquire_timeout"] = timeouts.acquire
        if timeouts.statement is not None:
            credentials["command_timeout"] = timeouts.statement + 1
            server = dict(credentials.get("server_settings") or {})
            server["statement_timeout"] = str(int(timeouts.statement * 1000))
            credentials["server_settings"] = server
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": MODELS,
                "migrations": migrations,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate(
    database_url: str, migrations: str = MIGRATIONS, target: str | None = None
) -> None:
    """Apply every migration not yet applied. Run from one process: tortoise takes no lock.

    On SQLite, tortoise rebuilds a table to alter it: with foreign keys on, dropping the old
    parent table cascades deletes into its children, and the rebuilt table has lost its indexes
    and unique constraints. So SQLite migrates with foreign keys off, then checks them, and
    puts back every index the models declare that the database no longer has.
    """
    config = tortoise_config(database_url, migrations, MIGRATION_TIMEOUTS)
    sqlite = database_url.startswith("sqlite://")
    if sqlite:
        config["connections"]["default"] = _with_query(config["connections"]["default"])
    try:
        await migrate_api(config=config, target=target)
        if sqlite and target is None:
            await _check_foreign_keys()
            await _restore_sqlite_indexes()
    finally:
        await Tortoise.close_connections()
    logger.info("database schema is up to date ({})", redact(database_url))


def _with_query(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "foreign_keys=OFF"


async def _check_foreign_keys() -> None:
    _, rows = await Tortoise.get_connection("default").execute_query("PRAGMA foreign_key_check")
    if rows:
        raise RuntimeError(f"migration left rows that break foreign keys: {list(rows)[:5]}")


async def _sqlite_indexes(conn: BaseDBAsyncClient) -> set[tuple[str, tuple[str, ...], bool]]:
    """(table, columns, unique) of every index and unique constraint in a SQLite database."""
    found: set[tuple[str, tuple[str, ...], bool]] = set()
    _, tables = await conn.execute_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    for table in (row["name"] for row in tables):
        _, indexes = await conn.execute_query(f'PRAGMA index_list("{table}")')
        for index in indexes:
            if index["origin"] == "pk":
                continue
            _, cols = await conn.execute_query(f'PRAGMA index_info("{index["name"]}")')
            columns = tuple(c["name"] for c in sorted(cols, key=lambda c: c["seqno"]))
            found.add((table, columns, bool(index["unique"])))
    return found


async def _has_columns(conn: BaseDBAsyncClient, table: str, columns: tuple[str, ...]) -> bool:
    _, rows = await conn.execute_query(f'PRAGMA table_info("{table}")')
    return set(columns) <= {row["name"] for row in rows}


async def _restore_sqlite_indexes() -> None:
    """Recreate the indexes the models declare that a table rebuild dropped."""
    actual = await _sqlite_indexes(Tortoise.get_connection("default"))
    async with TortoiseContext() as scratch:
        await scratch.init(config=tortoise_config("sqlite://:memory:"))
        await scratch.generate_schemas()
        expected = await _sqlite_indexes(scratch.db())
    conn = Tortoise.get_connection("default")
    for table, columns, unique in sorted(expected - actual):
        if not await _has_columns(conn, table, columns):
            continue  # a table or column a later migration adds: not ours to make
        name = f"{'uniq' if unique else 'idx'}_{table}_{'_'.join(columns)}"
        cols = ", ".join(f'"{c}"' for c in columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        logger.warning("restoring {} {} on {}({}) after a table rebuild", kind, name, table, cols)
        await conn.execute_script(f'CREATE {kind} IF NOT EXISTS "{name}" ON "{table}" ({cols})')


async def init(
    database_url: str, *, global_fallback: bool = True, timeouts: Timeouts = Timeouts()
) -> None:
    """Open connections; `global_fallback` lets scheduler jobs and web tasks see them."""
    # tortoise caches SQL per (connection name, table), not per dialect: a process that
    # opened SQLite before (the migration check, a test) would send `?` placeholders to
    # PostgreSQL.
    EXECUTOR_CACHE.clear()
    await Tortoise.init(
        config=tortoise_config(database_url, timeouts=timeouts),
        _enable_global_fallback=global_fallback,
    )


async def close() -> None:
    """Close every connection; aiosqlite keeps the process alive otherwise."""
    await Tortoise.close_connections()


def redact(url: str) -> str:
    """The URL with its password hidden, for logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
