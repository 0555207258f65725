"""Clicks on their way from the spool to the database: the spool's record of a click, and the
store that writes batches of them idempotently (uniqueness, the row, the race scores)."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from bot.services.races import ScoreEvent, Scoring
from bot.services.sql import as_datetime, connection, db_time, is_postgres, multi_insert
from models import Click, RaceMetric

REDIS_RETRY_SECONDS = 5.0  # after Redis fails, how long clicks go without asking it


@dataclass(slots=True)
class PendingClick:
    """A click on its way to the database: the row, whether it may be unique, whom it scores
    for."""

    click_id: str
    link_id: int
    sub: str | None
    visitor: str
    is_bot: bool
    user_agent: str
    created_at: datetime
    unique_key: str | None  # None for bots: they are never unique
    affiliate_id: int
    offer_id: int | None
    is_unique: bool = False


RECORD_VERSION = 1
MICROS_MAX = 253_402_300_799_000_000  # 9999-12-31 23:59:59 UTC, about the last datetime holds


def record(  # noqa: PLR0913, PLR0917 (the record's nine fields; no object built per click)
    click_id: str,
    link_id: int,
    sub: str | None,
    visitor: str,
    is_bot: bool,
    user_agent: str,
    micros: int,
    affiliate_id: int,
    offer_id: int | None,
) -> bytes:
    """A click as one spool record: a JSON array (JSON escapes every newline and control
    character). Written by hand around json.dumps of the two free-text fields, which is a
    third of the cost of dumping the whole list: this runs in every redirect. `click_id` and
    `visitor` are hex made by this process."""
    label = "null" if sub is None else json.dumps(sub)
    offer = "null" if offer_id is None else str(int(offer_id))
    bot = "true" if is_bot else "false"
    return (
        f'[{RECORD_VERSION},"{click_id}",{int(link_id)},{label},"{visitor}",{bot},'
        f"{json.dumps(user_agent)},{int(micros)},{int(affiliate_id)},{offer}]"
    ).encode()


def encode(click: PendingClick) -> bytes:
    """A PendingClick as one spool record (see record())."""
    return record(
        click.click_id,
        click.link_id,
        click.sub,
        click.visitor,
        click.is_bot,
        click.user_agent,
        round(click.created_at.timestamp() * 1_000_000),
        click.affiliate_id,
        click.offer_id,
    )


def decode(payload: bytes) -> PendingClick:
    """A spool record back as a click; ValueError if it is not one this code wrote."""
    try:
        fields = json.loads(payload)
        version, click_id, link_id, sub, visitor, is_bot, agent, micros, affiliate, offer = fields
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: deep nesting
        raise ValueError(f"not a click record: {exc}") from None
    ok = (
        version == RECORD_VERSION
        and isinstance(click_id, str)
        and isinstance(link_id, int)
        and (sub is None or isinstance(sub, str))
        and isinstance(visitor, str)
        and isinstance(is_bot, bool)
        and isinstance(agent, str)
        and isinstance(micros, int)
        and 0 <= micros <= MICROS_MAX  # what datetime can hold; past it, no click of ours
        and isinstance(affiliate, int)
        and (offer is None or isinstance(offer, int))
    )
    if not ok:
        raise ValueError("not a click record: a field has the wrong type")
    created = datetime.fromtimestamp(micros / 1_000_000, UTC)
    return PendingClick(
        click_id=click_id,
        link_id=link_id,
        sub=sub,
        visitor=visitor,
        is_bot=is_bot,
        user_agent=agent,
        created_at=created,
        unique_key=None if is_bot else _unique_key(link_id, sub, visitor, micros),
        affiliate_id=affiliate,
        offer_id=offer,
    )


def unique_key(link_id: int, sub: str | None, visitor: str, when: datetime) -> str:
    """The Redis key that makes a visitor unique once per link, label and UTC day."""
    return f"click:u:{link_id}:{sub or ''}:{visitor}:{when.astimezone(UTC):%Y%m%d}"


def _unique_key(link_id: int, sub: str | None, visitor: str, micros: int) -> str:
    """unique_key() from a time in microseconds, the day's label computed once a day."""
    return f"click:u:{link_id}:{sub or ''}:{visitor}:{_day(micros // MICROS_A_DAY)}"


MICROS_A_DAY = 86_400_000_000


@functools.lru_cache(maxsize=8)
def _day(number: int) -> str:
    return f"{datetime.fromtimestamp(number * 86_400, UTC):%Y%m%d}"


# One command for a whole batch: SET NX on each key, holding the click id that took it. A key
# already held by the same click (a batch stored again after a crash or an outage) keeps it
# unique; one held by another click does not. (One command with many keys costs far less
# than a pipeline of many commands.)
FIRST_SEEN = """
local seen = {}
for i, key in ipairs(KEYS) do
    local click = ARGV[i + 1]
    if redis.call('SET', key, click, 'NX', 'EX', ARGV[1]) then
        seen[i] = 1
    elseif redis.call('GET', key) == click then
        seen[i] = 1
    else
        seen[i] = 0
    end
end
return seen
"""

INSERT_COLUMNS = (
    "click_id",
    "link_id",
    "sub",
    "visitor",
    "is_unique",
    "is_bot",
    "user_agent",
    "created_at",
)
# PostgreSQL: one statement whatever the batch size, so it is prepared once per connection and
# each batch sends eight arrays instead of eight parameters per row. A click id already stored
# (a batch loaded again) is left as it is.
PG_INSERT = (
    f"INSERT INTO click ({', '.join(INSERT_COLUMNS)}) SELECT * FROM unnest("
    "$1::varchar[], $2::int[], $3::varchar[], $4::varchar[], $5::bool[], $6::bool[], "
    "$7::varchar[], $8::timestamptz[]) ON CONFLICT (click_id) DO NOTHING"
)
ON_CONFLICT = " ON CONFLICT (click_id) DO NOTHING"
RETURNING = " RETURNING click_id"


class ClickStore:
    """Stores a batch of clicks idempotently: one Redis call decides which are unique (per
    visitor, link, label and day), one INSERT stores those not stored yet, and the race scores
    of the clicks it inserted move in the same transaction."""

    name = "click"

    def __init__(
        self, redis: Redis, races: Scoring | None = None, unique_in_redis: bool = True
    ) -> None:
        # A connection of its own, kept: no checkout from the pool for every batch.
        self.redis = redis.client()
        self.races = races
        # False with the in-process stand-in for Redis: it forgets its keys at every restart,
        # so the clicks already stored decide (a query per batch, off the redirect's path).
        self.unique_in_redis = unique_in_redis
        self._redis_down_until = 0.0  # while Redis is down, it is not asked on every batch

    async def store(self, batch: list[PendingClick]) -> list[bool]:
        """Store the batch; for each click, whether it is unique."""
        await self._decide_unique(batch)
        conn = connection()
        postgres = is_postgres(conn)
        sql, values = self._insert(batch) if postgres else self._insert_sqlite(conn, batch)
        scoring = any(c.is_unique for c in batch) and self.races is not None
        if scoring and self.races is not None and await self.races.counts(RaceMetric.CLICKS):
            async with in_transaction():  # the clicks and the race scores they move, together
                # execute_query_dict: tortoise's execute_query drops an INSERT's rows on asyncpg
                rows = await connection().execute_query_dict(sql + RETURNING, values)
                inserted = {row["click_id"] for row in rows}
                await self.races.apply(
                    [
                        ScoreEvent(
                            RaceMetric.CLICKS, c.affiliate_id, c.offer_id, c.created_at, final=1
                        )
                        for c in batch
                        if c.is_unique and c.click_id in inserted
                    ]
                )
        else:  # one statement is one transaction: a single round trip
            await conn.execute_query(sql, values)
        return [c.is_unique for c in batch]

    async def _decide_unique(self, batch: list[PendingClick]) -> None:
        """Mark the batch's first visits of the day as unique: from Redis (one call), or, while
        Redis cannot answer, from the clicks already stored."""
        keyed = [c for c in batch if c.unique_key is not None]
        if not keyed:
            return
        if self.unique_in_redis and time.monotonic() >= self._redis_down_until:
            keys = [c.unique_key for c in keyed if c.unique_key is not None]
            ids = [c.click_id for c in keyed]
            try:
                answers = await self.redis.eval(FIRST_SEEN, len(keys), *keys, 2 * 86400, *ids)  # type: ignore[misc]
            except RedisError as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                logger.warning(
                    "Redis did not answer ({!r}): unique clicks are decided from the database "
                    "for the next {} s",
                    exc,
                    REDIS_RETRY_SECONDS,
                )
            else:
                for click, answer in zip(keyed, answers, strict=True):
                    click.is_unique = answer == 1
                return
        await self._unique_from_database(keyed)

    @staticmethod
    async def _unique_from_database(candidates: list[PendingClick]) -> None:
        """Without Redis: a visit is unique when no other click by the same visitor on the same
        link and label is stored for that UTC day (nor earlier in this batch)."""
        since = min(c.created_at for c in candidates).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        rows = await Click.filter(
            link_id__in={c.link_id for c in candidates},
            visitor__in={c.visitor for c in candidates},
            created_at__gte=since,
        ).values_list("click_id", "link_id", "sub", "visitor", "created_at")
        ours = {c.click_id for c in candidates}
        seen = {
            (link, sub, visitor, as_datetime(at).astimezone(UTC).date())
            for click_id, link, sub, visitor, at in rows
            if click_id not in ours
        }
        for click in candidates:
            day = (
                click.link_id,
                click.sub,
                click.visitor,
                click.created_at.astimezone(UTC).date(),
            )
            click.is_unique = day not in seen
            seen.add(day)

    @staticmethod
    def _insert(batch: list[PendingClick]) -> tuple[str, list[object]]:
        columns: list[object] = [
            [c.click_id for c in batch],
            [c.link_id for c in batch],
            [c.sub for c in batch],
            [c.visitor for c in batch],
            [c.is_unique for c in batch],
            [c.is_bot for c in batch],
            [c.user_agent for c in batch],
            [c.created_at for c in batch],
        ]
        return PG_INSERT, columns

    @staticmethod
    def _insert_sqlite(
        conn: BaseDBAsyncClient, batch: list[PendingClick]
    ) -> tuple[str, list[object]]:
        values: list[object] = []
        for c in batch:
            values += [
                c.click_id,
                c.link_id,
                c.sub,
                c.visitor,
                c.is_unique,
                c.is_bot,
                c.user_agent,
                db_time(conn, c.created_at),
            ]
        return multi_insert(conn, "click", INSERT_COLUMNS, len(batch)) + ON_CONFLICT, values

    async def close(self) -> None:
        await self.redis.aclose()
