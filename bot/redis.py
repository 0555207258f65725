"""Redis for derived and ephemeral state: a real server, or one shared in-process stand-in."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

_fake_server: Any = None


def create_redis(url: str | None, connect_timeout: float = 2.0, timeout: float = 2.0) -> Redis:
    """A client for REDIS_URL; without it, fakeredis (with Lua, which aiogram's locks need).

    Every wait is bounded: connecting by `connect_timeout`, each command by `timeout`, and a
    failed command is tried once more at once (a connection that a restarted server dropped),
    not the client's default of three times with growing pauses (up to 20 s of a frozen
    server per call).
    """
    if url:
        return Redis.from_url(
            url,
            decode_responses=False,
            health_check_interval=30,
            socket_connect_timeout=connect_timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
    fakeredis = _fakeredis()

    global _fake_server
    if _fake_server is None:
        _fake_server = fakeredis.FakeServer()
    return fakeredis.FakeAsyncRedis(server=_fake_server)


def _fakeredis() -> ModuleType:
    """fakeredis without numpy: it imports numpy, when installed, only for vector sets, which
    the bot never uses; numpy is 13 MB of the process (it is there for the chart process)."""
    if "numpy" in sys.modules or "fakeredis" in sys.modules:
        import fakeredis

        return fakeredis
    sys.modules["numpy"] = None  # type: ignore[assignment]  # `import numpy` fails meanwhile
    try:
        import fakeredis
    finally:
        del sys.modules["numpy"]
    return fakeredis
