"""Fixtures: every test runs on SQLite, and again on PostgreSQL + Redis when
TEST_DATABASE_URL and TEST_REDIS_URL name them (.ci/run sets both)."""

from __future__ import annotations

import gc
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import fakeredis
import pytest
from redis.asyncio import Redis
from tortoise import Tortoise

from bot import db
from tests.factories import Factory
from tests.stack import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    Stack,
    build_stack,
    recreate_pg_database,
    run_sync,
)
from tests.telegram import TgClient

BACKENDS = ["sqlite"] + (["postgres"] if TEST_DATABASE_URL else [])
# Fault tests that cut a real PostgreSQL's connections need one.
collect_ignore = [] if TEST_DATABASE_URL else ["integration/test_pg_faults.py"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    run_sync(db.migrate(f"sqlite://{path}"))
    return path


@pytest.fixture(scope="session")
def pg_url() -> str:
    assert TEST_DATABASE_URL
    run_sync(recreate_pg_database(TEST_DATABASE_URL))
    run_sync(db.migrate(TEST_DATABASE_URL))
    return TEST_DATABASE_URL


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    if backend == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite://{path}"
        await db.init(url)
    else:
        url = request.getfixturevalue("pg_url")
        await db.init(url)
        conn = Tortoise.get_connection("default")
        _, rows = await conn.execute_query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename != 'tortoise_migrations'"
        )
        tables = ", ".join(f'"{r["tablename"]}"' for r in rows)
        await conn.execute_script(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    try:
        yield url
    finally:
        await db.close()


@pytest.fixture
async def redis(backend: str) -> AsyncIterator[Redis]:
    if backend == "postgres" and TEST_REDIS_URL:
        client = Redis.from_url(TEST_REDIS_URL)
        await client.flushdb()
    else:
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def stack(database: str, redis: Redis) -> AsyncIterator[Stack]:
    built = await build_stack(database, redis)
    try:
        yield built
    finally:
        await built.services.notifier.close()
        await built.services.click_loader.close()
        shutil.rmtree(built.settings.spool_dir, ignore_errors=True)
        await built.services.conversions.close()
        await built.services.tally.close()
        await built.services.stats.close()


@pytest.fixture
def tg(stack: Stack) -> TgClient:
    return stack.tg


@pytest.fixture
def factory(database: str) -> Factory:
    return Factory()


@pytest.fixture
def steady_collector() -> Iterator[None]:
    """For a test that times requests: what earlier tests left in this process (some 700,000
    objects by the end of the suite) is moved out of the garbage collector's way. A full
    collection of it stops this process's loop for 0.5 s and more, which the test would
    count against the server it times. The bot's own process does the same after start-up."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
