"""Click tracking for /r/CODE: resolve the code, record the click durably, build the target."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from bot.errors import N_, NotFound
from bot.services.batching import GroupCommit
from bot.services.cache import TtlCache
from bot.services.inputs import clean_header
from bot.services.links import LinkService, LinkUrls
from bot.services.races import ScoreEvent, Scoring
from bot.services.sql import as_datetime, connection, db_time, is_postgres, multi_insert
from models import Click, Link, OfferKind, RaceMetric

# Matched against the lower-cased agent: IGNORECASE makes this regex ten times slower.
BOT_UA = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|embedly|whatsapp|"
    r"telegram|discord|slack|skype|vkshare|curl/|wget/|python-|httpx|aiohttp|go-http|"
    r"java/|okhttp|headless|phantomjs|lighthouse|monitor|pingdom|uptime"
)
MACROS = ("click_id", "sub", "affiliate_id", "offer_id", "link_code")
MACRO_RE = re.compile(r"\{([a-z_]+)\}")
REDIS_RETRY_SECONDS = 5.0  # after Redis fails, how long clicks go without asking it
AGENTS_KEPT = 20_000  # user agents whose bot check is remembered


def is_bot_agent(user_agent: str) -> bool:
    return not user_agent.strip() or bool(BOT_UA.search(user_agent.lower()))


def compile_target(template: str, fixed: dict[str, str]) -> str:
    """The offer URL as a `str.format` pattern, worked out once per link rather than per click.
    Each {macro} becomes its URL-encoded value: the link's own ones (`fixed`) now, `{0}` (the
    click id) and `{1}` (the sub-label) at click time, encoded by the caller. Unknown names
    and stray braces are kept literally."""
    braces = str.maketrans({"{": "{{", "}": "}}"})
    parts: list[str] = []
    last = 0
    for match in MACRO_RE.finditer(template):
        parts.append(template[last : match.start()].translate(braces))
        name = match.group(1)
        if name == "click_id":
            parts.append("{0}")
        elif name == "sub":
            parts.append("{1}")
        elif name in fixed:
            parts.append(quote(fixed[name], safe="").translate(braces))
        else:
            parts.append(match.group(0).translate(braces))
        last = match.end()
    parts.append(template[last:].translate(braces))
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved code, as the redirect needs it (cached for a short while)."""

    link_id: int
    code: str
    affiliate_id: int
    offer_id: int | None
    kind: OfferKind | None
    target_url: str | None
    active: bool
    pattern: str | None = None  # compile_target() of target_url, for URL offers


TargetCache = TtlCache[str, "Target | None"]


def target_cache() -> TargetCache:
    """Resolved codes, so a click costs no lookup query; offers clear it when they change."""
    return TtlCache(ttl=30.0, size=50_000)


@dataclass(slots=True)
class PendingClick:
    """A click waiting for its batch: the row, whether it may be unique, whom it scores for."""

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


# One command for a whole batch: SET NX on each key, 1 where it was new. (Packing one command
# with many keys costs far less than a pipeline of many commands.)
FIRST_SEEN = """
local seen = {}
for i, key in ipairs(KEYS) do
    seen[i] = redis.call('SET', key, '1', 'NX', 'EX', ARGV[1]) and 1 or 0
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
# each batch sends eight arrays instead of eight parameters per row.
PG_INSERT = (
    f"INSERT INTO click ({', '.join(INSERT_COLUMNS)}) SELECT * FROM unnest("
    "$1::varchar[], $2::int[], $3::varchar[], $4::varchar[], $5::bool[], $6::bool[], "
    "$7::varchar[], $8::timestamptz[])"
)


class ClickWriter(GroupCommit[PendingClick, bool]):
    """Group commit of clicks: one Redis call decides which clicks of a batch are unique (per
    visitor, link, label and day), one INSERT stores them, and the caller's redirect goes out
    only once its row is committed; a busy second costs a few round trips."""

    name = "click"

    def __init__(
        self,
        redis: Redis,
        max_batch: int = 500,
        concurrency: int = 3,
        races: Scoring | None = None,
    ) -> None:
        super().__init__(max_batch, concurrency)
        # A connection of its own, kept: no checkout from the pool for every batch.
        self.redis = redis.client()
        self.races = races  # moves race scores in the same transaction as the clicks
        self._redis_down_until = 0.0  # while Redis is down, it is not asked on every batch

    async def store(self, batch: list[PendingClick]) -> list[bool]:
        from_redis = await self._decide_unique(batch)
        conn = connection()
        sql, values = (
            self._insert(batch) if is_postgres(conn) else self._insert_sqlite(conn, batch)
        )
        events = [
            ScoreEvent(RaceMetric.CLICKS, c.affiliate_id, c.offer_id, c.created_at, final=1)
            for c in batch
            if c.is_unique
        ]
        try:
            if events and self.races is not None and await self.races.counts(RaceMetric.CLICKS):
                async with in_transaction():  # the clicks and the race scores they move, together
                    await connection().execute_query(sql, values)
                    await self.races.apply(events)
            else:  # one statement is one transaction: a single round trip
                await conn.execute_query(sql, values)
        except Exception:
            # Nothing was stored, so these visitors have not been counted today: give their
            # keys back, or their next visit would not be unique either.
            taken = [c.unique_key for c in batch if c.is_unique and c.unique_key is not None]
            if taken and from_redis:
                with contextlib.suppress(RedisError):
                    await self.redis.delete(*taken)
            raise
        return [c.is_unique for c in batch]

    async def _decide_unique(self, batch: list[PendingClick]) -> bool:
        """Mark the batch's first visits of the day as unique: from Redis (one call), or, while
        Redis cannot answer, from the clicks already stored. Returns whether Redis decided."""
        keys = [c.unique_key for c in batch if c.unique_key is not None]
        if not keys:
            return False
        if time.monotonic() >= self._redis_down_until:
            try:
                answers = await self.redis.eval(FIRST_SEEN, len(keys), *keys, 2 * 86400)  # type: ignore[misc]
            except RedisError as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                logger.warning(
                    "Redis did not answer ({!r}): unique clicks are decided from the database "
                    "for the next {} s",
                    exc,
                    REDIS_RETRY_SECONDS,
                )
            else:
                fresh = iter(answers)
                for click in batch:
                    if click.unique_key is not None:
                        click.is_unique = next(fresh) == 1
                return True
        await self._unique_from_database(batch)
        return False

    @staticmethod
    async def _unique_from_database(batch: list[PendingClick]) -> None:
        """Without Redis: a visit is unique when no click by the same visitor on the same link
        and label is stored for that UTC day (nor earlier in this batch)."""
        candidates = [c for c in batch if c.unique_key is not None]
        since = min(c.created_at for c in candidates).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        rows = await Click.filter(
            link_id__in={c.link_id for c in candidates},
            visitor__in={c.visitor for c in candidates},
            created_at__gte=since,
        ).values_list("link_id", "sub", "visitor", "created_at")
        seen = {
            (link, sub, visitor, as_datetime(at).astimezone(UTC).date())
            for link, sub, visitor, at in rows
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
        return multi_insert(conn, "click", INSERT_COLUMNS, len(batch)), values


class ClickService:
    """Counts a visit (raw, unique per visitor per day, bots flagged) and says where to go."""

    def __init__(
        self,
        redis: Redis,
        urls: LinkUrls,
        salt: bytes,
        cache: TargetCache | None = None,
        races: Scoring | None = None,
    ) -> None:
        self.redis = redis
        self.urls = urls
        self.salt = salt
        self.cache = cache if cache is not None else target_cache()
        self.links = LinkService()
        self.writer = ClickWriter(redis, races=races)
        self._labels: TtlCache[tuple[int, str], bool] = TtlCache(ttl=60, size=50_000)
        self._agents: dict[str, bool] = {}
        self._today = (0, "")
        self.lost = 0  # redirects answered without storing their click (a dependency was down)

    async def resolve(self, code: str) -> Target | None:
        hit, target = self.cache.get(code)
        if hit:
            return target
        link = await Link.get_or_none(code=code).select_related("offer")
        target = None
        if link is not None:
            offer = link.offer
            pattern = None
            if offer is not None and offer.kind is OfferKind.URL and offer.target_url:
                fixed = {
                    "affiliate_id": str(link.affiliate_id),
                    "offer_id": str(offer.id),
                    "link_code": link.code,
                }
                pattern = compile_target(offer.target_url, fixed)
            target = Target(
                link_id=link.id,
                code=link.code,
                affiliate_id=link.affiliate_id,
                offer_id=link.offer_id,
                kind=offer.kind if offer else None,
                target_url=offer.target_url if offer else None,
                active=offer.is_active if offer else True,
                pattern=pattern,
            )
        self.cache.put(code, target)
        return target

    def visitor_id(self, ip: str, user_agent: str) -> str:
        """A keyed hash of address and browser: stable per visitor, not reversible."""
        data = f"{ip}\n{user_agent}".encode()
        return hashlib.blake2b(data, key=self.salt, digest_size=16).hexdigest()

    def is_bot(self, user_agent: str) -> bool:
        """is_bot_agent(), remembered per agent string: browsers repeat the same few."""
        known = self._agents.get(user_agent)
        if known is None:
            if len(self._agents) >= AGENTS_KEPT:
                self._agents.clear()
            known = self._agents[user_agent] = is_bot_agent(user_agent)
        return known

    def unique_key(self, link_id: int, sub: str | None, visitor: str, now: datetime) -> str:
        """The Redis key that makes a visitor unique once per link, label and UTC day."""
        ordinal = now.toordinal()
        if ordinal != self._today[0]:
            self._today = (ordinal, f"{now:%Y%m%d}")
        return f"click:u:{link_id}:{sub or ''}:{visitor}:{self._today[1]}"

    async def _active(self, code: str) -> Target:
        hit, target = self.cache.get(code)
        if not hit:
            target = await self.resolve(code)
        if target is None or not target.active:
            raise NotFound(N_("This link does not exist or is no longer active."))
        return target

    async def _label(self, target: Target, sub: str | None) -> str | None:
        """The label if the affiliate has it; an unknown one counts on the plain link."""
        if sub is None:
            return None
        found, known = self._labels.get((target.affiliate_id, sub))
        if not found:
            known = await self.links.has_sublink(target.affiliate_id, sub)
            self._labels.put((target.affiliate_id, sub), known)
        return sub if known else None

    async def peek(self, code: str, sub: str | None) -> str:
        """Where a click would be sent, without recording one (for HEAD)."""
        target = await self._active(code)
        return self.destination(target, "", await self._label(target, sub))

    def uncounted_destination(self, code: str, sub: str | None) -> str | None:
        """Where to send a visitor whose click cannot be stored (the database or Redis is
        down), from what this process last knew of the code; None if it knows nothing."""
        hit, target = self.cache.get(code, stale_ok=True)
        if not hit or target is None or not target.active:
            return None
        self.lost += 1
        known = sub is not None and bool(
            self._labels.get((target.affiliate_id, sub), stale_ok=True)[1]
        )
        return self.destination(target, secrets.token_hex(16), sub if known else None)

    async def track(self, code: str, sub: str | None, ip: str, user_agent: str) -> str:
        """Record one click and return the URL to send the visitor to."""
        target = await self._active(code)
        sub = await self._label(target, sub)
        now = datetime.now(UTC)
        user_agent = clean_header(user_agent, 256)
        is_bot = self.is_bot(user_agent)
        visitor = self.visitor_id(ip, user_agent)
        click_id = secrets.token_hex(16)
        await self.writer.submit(
            PendingClick(
                click_id=click_id,
                link_id=target.link_id,
                sub=sub,
                visitor=visitor,
                is_bot=is_bot,
                user_agent=user_agent,
                created_at=now,
                unique_key=None if is_bot else self.unique_key(target.link_id, sub, visitor, now),
                affiliate_id=target.affiliate_id,
                offer_id=target.offer_id,
            )
        )
        return self.destination(target, click_id, sub)

    def destination(self, target: Target, click_id: str, sub: str | None) -> str:
        if target.pattern is not None:
            return target.pattern.format(click_id, quote(sub, safe="") if sub else "")
        return self.urls.for_link(target.code, target.kind, sub)

    async def close(self) -> None:
        await self.writer.close()
        await self.writer.redis.aclose()
