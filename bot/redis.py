"""Redis for derived and ephemeral state: a real server, or one shared in-process stand-in."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

_fake_server: Any = None


def create_redis(url: str | None) -> Redis:
    """A client for REDIS_URL; without it, fakeredis (with Lua, which aiogram's locks need)."""
    if url:
        return Redis.from_url(url, decode_responses=False, health_check_interval=30)
    import fakeredis

    global _fake_server
    if _fake_server is None:
        _fake_server = fakeredis.FakeServer()
    return fakeredis.FakeAsyncRedis(server=_fake_server)
