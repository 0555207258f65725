"""The test stack: the real services, dispatcher and routers on a mocked Bot session, built
the way the composition root builds them; and the helpers tests share."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
import fakeredis
from aiogram import Bot, Dispatcher
from redis.asyncio import Redis

from bot.config import Settings
from bot.factory import (
    Services,
    create_bot,
    create_dispatcher,
    create_services,
    resolve_bot_identity,
)
from tests.mocked_bot import MockedSession
from tests.telegram import TgClient

# Where the tests find PostgreSQL and Redis (.ci/run sets both); unset: SQLite and fakeredis.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
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

    async def load_clicks(self) -> None:
        """What the redirects spooled is stored, as the running process's loader does it."""
        assert await self.services.click_loader.load_all(), "the spool could not be loaded"

    async def deliver(self, seconds: float = 5.0) -> int:
        """What the outbox holds goes out, as the running process's sender does it."""
        return await self.services.sender.drain(seconds)


async def build_stack(database_url: str, redis: Redis, **overrides: Any) -> Stack:
    overrides.setdefault("CLICK_SPOOL_DIR", tempfile.mkdtemp(prefix="affrace-spool-"))
    # Pub/sub ignores the database number: each stack's channels are its own.
    overrides.setdefault("CHANNEL_PREFIX", f"test-{uuid.uuid4().hex[:12]}")
    if not isinstance(redis, fakeredis.FakeAsyncRedis):  # a real server: configured as such
        overrides.setdefault("REDIS_URL", "redis://given-to-the-test-stack/0")
    settings = make_settings(database_url, **overrides)
    session = MockedSession()
    bot = create_bot(settings, session=session)
    services = create_services(settings, bot, redis)
    dp = create_dispatcher(settings, redis, services)
    await resolve_bot_identity(bot, settings, services)
    session.requests.clear()
    return Stack(settings, session, bot, services, dp, redis, TgClient(dp, bot, session))
