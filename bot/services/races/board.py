"""A race's leaderboard in Redis: one sorted set, derived from the database and rebuilt from it
whenever it is missing. Equal scores are ordered by who reached them first: the tie-break is
encoded in the sorted-set score (points × 2²² plus how early they were reached)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import LockError
from tortoise.transactions import in_transaction

from bot.services.races.marks import CLAIM
from bot.services.sql import as_datetime, connection, placeholders
from models import Race, RaceEntry, RaceMark

TIE_BITS = 22  # seconds since the start fit in 22 bits: races last at most 48 days
TIE_SPAN = 1 << TIE_BITS
INLINE_REBUILD = 10_000  # entries; a bigger board is rebuilt in the background
CHUNK = 2000  # members per script call: each holds Redis a few milliseconds at a million
RANKS_CHUNK = 250  # members per ranks script: each call holds Redis about 1 ms at a million

# The members and scores of a sync travel as one packed string per call ("score:member,…"),
# split by the script: redis-py packs every argument of a command in Python, which cost a
# 10,000-member tick about 100 ms of the client's CPU. ZADD takes the pairs 500 at a time.
ZADD_PACKED = """
local unpack = unpack or table.unpack
local args, n, added = {}, 0, 0
for score, member in string.gmatch(ARGV[1], '([^:,]+):([^:,]+)') do
    args[n + 1], args[n + 2] = score, member
    n = n + 2
    if n == 1000 then
        added = added + redis.call('ZADD', KEYS[1], unpack(args, 1, n))
        n = 0
    end
end
if n > 0 then
    added = added + redis.call('ZADD', KEYS[1], unpack(args, 1, n))
end
return added
"""

# ZREVRANK of each member of a packed "member,member,…" string, -1 for those not on the board
# (a Lua array stops at its first nil).
RANKS = """
local out, i = {}, 0
for member in string.gmatch(ARGV[1], '[^,]+') do
    i = i + 1
    out[i] = redis.call('ZREVRANK', KEYS[1], member) or -1
end
return out
"""


def encode(score: int, reached_at: datetime, starts_at: datetime) -> float:
    """Sorted-set score: higher points first; on equal points, whoever reached them first."""
    return float(_ordered(score, reached_at, starts_at))


def _ordered(score: int, reached_at: datetime, starts_at: datetime) -> int:
    elapsed = int((reached_at - starts_at).total_seconds())
    elapsed = min(max(elapsed, 0), TIE_SPAN - 1)
    return score * TIE_SPAN + (TIE_SPAN - 1 - elapsed)


def decode(value: float) -> int:
    return int(value) // TIE_SPAN


def packed(score: int, reached_at: datetime, starts_at: datetime, member: int) -> str:
    """One "score:member" pair of ZADD_PACKED: encode()'s value, written as an integer."""
    return f"{_ordered(score, reached_at, starts_at)}:{member}"


def zadd_packed(pipe: Pipeline, board: str, pairs: Sequence[str]) -> None:
    """Queue ZADDs of packed pairs on a pipeline, CHUNK members per script call."""
    for start in range(0, len(pairs), CHUNK):
        pipe.eval(ZADD_PACKED, 1, board, ",".join(pairs[start : start + CHUNK]))


def key(race_id: int) -> str:
    return f"race:{race_id}:board"


def built_key(race_id: int) -> str:
    """Set once the board is built: an empty race has no sorted set to tell it by."""
    return f"race:{race_id}:built"


@dataclass(frozen=True, slots=True)
class Standing:
    affiliate_id: int
    rank: int  # 1-based
    score: int


@dataclass(frozen=True, slots=True)
class Moved:
    """An entry whose new score a sync copied into the board."""

    affiliate_id: int
    entry_id: int
    best_rank: int | None  # before this tick


class Board:
    """Ranks from Redis, kept in step with the database's entries."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._rebuilds: set[asyncio.Task[int]] = set()

    async def rebuild(self, race: Race) -> int:
        """Recreate the sorted set from the database; returns the number of entries.

        It claims every mark first (a score that moves meanwhile is marked again and goes in
        at the next tick), fills a temporary key and renames it over the board, so readers
        never see a half-built board; a lock keeps two rebuilds from running at once.
        """
        board = key(race.id)
        lock = self.redis.lock(f"race:{race.id}:rebuild", timeout=600, blocking_timeout=0.1)
        if not await lock.acquire():
            return 0
        try:
            await RaceMark.filter(race_id=race.id).delete()
            temp = f"{board}:tmp"
            await self.redis.delete(temp)
            count = 0
            last_id = 0
            while rows := await self._raw_entries(race.id, last_id, 20000):
                async with self.redis.pipeline(transaction=False) as pipe:
                    zadd_packed(
                        pipe,
                        temp,
                        [packed(score, at, race.starts_at, aff) for _, aff, score, at in rows],
                    )
                    await pipe.execute()
                count += len(rows)
                last_id = rows[-1][0]
            async with self.redis.pipeline(transaction=True) as pipe:
                if count:
                    pipe.rename(temp, board)
                else:
                    pipe.delete(board)
                pipe.set(built_key(race.id), b"1")
                await pipe.execute()
            return count
        finally:
            with contextlib.suppress(LockError):
                await lock.release()

    @staticmethod
    async def _raw_entries(
        race_id: int, after_id: int, limit: int
    ) -> list[tuple[int, int, int, datetime]]:
        """(id, affiliate, score, reached_at) pages, read raw: the ORM's row building is the
        slow part at a million rows."""
        conn = connection()
        sql = (
            "SELECT id, affiliate_id, score, reached_at FROM race_entry "
            "WHERE race_id = {p1} AND id > {p2} ORDER BY id LIMIT {p3}"
        )
        rows = await conn.execute_query_dict(
            sql.format(**placeholders(conn, 3)), [race_id, after_id, limit]
        )
        return [
            (r["id"], r["affiliate_id"], r["score"], as_datetime(r["reached_at"])) for r in rows
        ]

    async def sync(self, race: Race) -> list[Moved]:
        """Copy the marked entries into Redis; return whose score changed, with their best
        ranks so far (the tick needs them, and reading them here saves it a query).

        The marks are claimed (deleted) with the scores they hold in one statement, so a score
        that moves meanwhile is marked again for the next tick instead of being lost; and the
        claim commits only once the board has the scores, so a sync that fails or is killed
        halfway leaves its marks for the next one. A best rank a mark holds may be older than
        the entry's (a tick wrote it after the mark): the tick's write checks it again.
        """
        if await self.missing(race):  # first tick, or Redis lost it
            marked = await RaceMark.filter(race_id=race.id).values_list(
                "affiliate_id", "entry_id", "best_rank"
            )
            await self.rebuild(race)
            return [Moved(aff, pk, best) for aff, pk, best in marked]
        async with in_transaction() as conn:
            rows = await conn.execute_query_dict(CLAIM.format(**placeholders(conn, 1)), [race.id])
            if not rows:
                return []
            starts_at = race.starts_at
            async with self.redis.pipeline(transaction=False) as pipe:
                zadd_packed(
                    pipe,
                    key(race.id),
                    [
                        packed(
                            r["score"], as_datetime(r["reached_at"]), starts_at, r["affiliate_id"]
                        )
                        for r in rows
                    ],
                )
                await pipe.execute()
        return [Moved(r["affiliate_id"], r["entry_id"], r["best_rank"]) for r in rows]

    async def top(self, race: Race, start: int = 0, count: int = 10) -> list[Standing]:
        rows = await self.redis.zrevrange(key(race.id), start, start + count - 1, withscores=True)
        return [
            Standing(int(member), start + i + 1, decode(value))
            for i, (member, value) in enumerate(rows)
        ]

    async def rank(self, race: Race, affiliate_id: int) -> Standing | None:
        board = key(race.id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrank(board, str(affiliate_id))
            pipe.zscore(board, str(affiliate_id))
            rank, value = await pipe.execute()
        if rank is None or value is None:
            return None
        return Standing(affiliate_id, int(rank) + 1, decode(value))

    async def ranks(self, race: Race, affiliate_ids: list[int]) -> list[int | None]:
        """1-based ranks of several affiliates in one round trip: a script per RANKS_CHUNK
        members, each given as one packed string, since a pipeline of one ZREVRANK each costs
        the client ~30 µs a member."""
        members = [str(a) for a in affiliate_ids]
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(members), RANKS_CHUNK):
                pipe.eval(RANKS, 1, key(race.id), ",".join(members[start : start + RANKS_CHUNK]))
            found = await pipe.execute()
        return [None if r < 0 else int(r) + 1 for part in found for r in part]

    async def participants(self, race: Race) -> int:
        return int(await self.redis.zcard(key(race.id)))

    async def ensure(self, race: Race) -> None:
        """Build the board if Redis has none (a new process with the in-process stand-in, or a
        lost Redis); the lock in rebuild() makes concurrent callers skip, not repeat it."""
        if not await self.missing(race):
            return
        if await RaceEntry.filter(race_id=race.id).count() <= INLINE_REBUILD:
            await self.rebuild(race)
            return
        # A big board takes seconds to rebuild: not while a person waits for a button.
        task = asyncio.create_task(self.rebuild(race))
        self._rebuilds.add(task)
        task.add_done_callback(self._rebuilds.discard)

    async def missing(self, race: Race) -> bool:
        if await self.redis.exists(key(race.id)):
            return False
        if not await self.redis.exists(built_key(race.id)):
            return True
        return await RaceEntry.exists(race_id=race.id)  # built empty, but now has entries

    async def drop(self, race_id: int) -> None:
        await self.redis.delete(key(race_id), built_key(race_id))
