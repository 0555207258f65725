"""Today's postback counts: added up in the process, written to Redis in the background."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import fakeredis
import pytest

from bot.services import tally as tally_module
from bot.services.conversions import Verdict
from bot.services.tally import PostbackTally


def day(d: int) -> datetime:
    return datetime(2026, 12, d, 12, tzinfo=UTC)


async def test_counts_reach_redis_in_one_write_and_another_process_sees_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tally_module, "FLUSH_SECONDS", 0.05)
    server = fakeredis.FakeServer()
    here = PostbackTally(fakeredis.FakeAsyncRedis(server=server), "t", lambda: day(7))
    elsewhere = PostbackTally(fakeredis.FakeAsyncRedis(server=server), "t", lambda: day(7))
    for verdict in [Verdict.STORED] * 5 + [Verdict.DUPLICATE, Verdict.REJECTED, Verdict.TEST]:
        here.count(verdict)

    assert await here.today() == {"stored": 5, "duplicate": 1, "rejected": 1}  # before a write
    assert await elsewhere.today() == {"stored": 0, "duplicate": 0, "rejected": 0}
    await asyncio.sleep(0.2)
    assert await elsewhere.today() == {"stored": 5, "duplicate": 1, "rejected": 1}
    assert await here.today() == {"stored": 5, "duplicate": 1, "rejected": 1}  # not twice
    ttl = await elsewhere.redis.ttl("t:postbacks:2026-12-07")
    assert 0 < ttl <= tally_module.KEEP_SECONDS


async def test_close_writes_what_waits_and_a_count_goes_to_its_own_day() -> None:
    server = fakeredis.FakeServer()
    now = [day(7)]
    here = PostbackTally(fakeredis.FakeAsyncRedis(server=server), "t", lambda: now[0])
    here.count(Verdict.STORED)
    now[0] = day(8)  # midnight passes before the write
    here.count(Verdict.STORED)
    here.count(Verdict.REJECTED)

    await here.close()

    redis = fakeredis.FakeAsyncRedis(server=server)
    assert await redis.hgetall("t:postbacks:2026-12-07") == {b"stored": b"1"}
    assert await redis.hgetall("t:postbacks:2026-12-08") == {b"stored": b"1", b"rejected": b"1"}


async def test_a_redis_that_is_down_loses_counts_and_raises_nothing() -> None:
    server = fakeredis.FakeServer()
    server.connected = False  # every command fails with a ConnectionError
    here = PostbackTally(fakeredis.FakeAsyncRedis(server=server), "t", lambda: day(7))
    here.count(Verdict.STORED)

    await here.close()  # raises nothing

    server.connected = True
    assert await here.today() == {"stored": 0, "duplicate": 0, "rejected": 0}  # lost, once
