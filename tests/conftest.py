"""Fixtures: every test runs on SQLite, and again on PostgreSQL + Redis when
TEST_DATABASE_URL and TEST_REDIS_URL name them (.ci/run sets both)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import fakeredis
import pytest
from aiogram import Bot, Dispatcher
from redis.asyncio import Redis
from tortoise import Tortoise

from bot import db
from bot.config import Settings
from bot.factory import (
    Services,
    create_bot,
    create_dispatcher,
    create_services,
    resolve_bot_identity,
)
from tests.factories import Factory
from tests.mocked_bot import MockedSession
from tests.telegram import TgClient

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgres"] if TEST_DATABASE_URL else [])
# Fault tests that cut a real PostgreSQL's connections need one.
collect_ignore = [] if TEST_DATABASE_URL else ["integration/test_pg_faults.py"]
TOKEN = "123456:" + "A" * 35
ADMIN_ID = 1000


async def recreate_pg_database(url: str) -> None:
    """Drop and create the database named in `url`, connecting to the server's `postgres`."""
    base, name = url.rsplit("/", 1)
    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://") + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def run_sync(coro: Any) -> None:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


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


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "BOT_TOKEN": TOKEN,
        "ADMIN_IDS": str(ADMIN_ID),
        "DATABASE_URL": database_url,
        "PUBLIC_URL": "https://aff.example",
        "THROTTLE_RATE": 1000,
        "REFERRAL_NOTIFY_DELAY": 0,
        "UPDATE_RETRY_SECONDS": 0,  # tests of the retry turn it on themselves
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Stack:
    settings: Settings
    session: MockedSession
    bot: Bot
    services: Services
    dp: Dispatcher
    redis: Redis
    tg: TgClient

    async def deliver(self, seconds: float = 5.0) -> int:
        """What the outbox holds goes out, as the running process's sender does it."""
        return await self.services.sender.drain(seconds)


async def build_stack(database_url: str, redis: Redis, **overrides: Any) -> Stack:
    settings = make_settings(database_url, **overrides)
    session = MockedSession()
    bot = create_bot(settings, session=session)
    services = create_services(settings, bot, redis)
    dp = create_dispatcher(settings, redis, services)
    await resolve_bot_identity(bot, settings, services)
    session.requests.clear()
    return Stack(settings, session, bot, services, dp, redis, TgClient(dp, bot, session))


@pytest.fixture
async def stack(database: str, redis: Redis) -> AsyncIterator[Stack]:
    built = await build_stack(database, redis)
    try:
        yield built
    finally:
        await built.services.notifier.close()
        await built.services.clicks.close()
        await built.services.conversions.close()


@pytest.fixture
def tg(stack: Stack) -> TgClient:
    return stack.tg


@pytest.fixture
def factory(database: str) -> Factory:
    return Factory()
