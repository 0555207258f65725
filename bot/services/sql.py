"""Raw SQL that runs on SQLite and PostgreSQL alike: placeholders, booleans, timestamps.

tortoise's query API has no multi-row INSERT … RETURNING, UPDATE … RETURNING or unnest, and
its row building is the slow part at scale, so the hot paths write SQL; the two dialects
differ only in what is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient


def connection() -> BaseDBAsyncClient:
    return Tortoise.get_connection("default")


def is_postgres(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


def placeholders(conn: BaseDBAsyncClient, count: int) -> dict[str, str]:
    """{p1}..{pN} for str.format: $1 on PostgreSQL, ? on SQLite."""
    postgres = is_postgres(conn)
    return {f"p{i}": f"${i}" if postgres else "?" for i in range(1, count + 1)}


def booleans(conn: BaseDBAsyncClient) -> dict[str, str]:
    """{true} and {false} for str.format."""
    if is_postgres(conn):
        return {"true": "TRUE", "false": "FALSE"}
    return {"true": "1", "false": "0"}


def multi_insert(conn: BaseDBAsyncClient, table: str, columns: Sequence[str], rows: int) -> str:
    """`INSERT INTO table (...) VALUES (...), (...)` with the dialect's placeholders."""
    width = len(columns)
    if is_postgres(conn):
        groups = [
            "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")"
            for r in range(rows)
        ]
    else:
        groups = ["(" + ", ".join("?" * width) + ")"] * rows
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(groups)}"


def db_time(conn: BaseDBAsyncClient, value: datetime | None) -> object:
    """A datetime as the driver wants it: asyncpg takes datetimes, SQLite tortoise's text."""
    if value is None or is_postgres(conn):
        return value
    return value.isoformat(" ")


def as_datetime(value: object) -> datetime:
    """A timestamp from a raw row: asyncpg gives datetimes, SQLite gives ISO text."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
