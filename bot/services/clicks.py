"""Click tracking for /r/CODE: resolve the code, record the click durably, build the target."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from redis.asyncio import Redis
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from bot.errors import N_, NotFound
from bot.services.batching import GroupCommit, db_time, multi_insert
from bot.services.links import LinkUrls
from bot.services.races import RaceService, ScoreEvent
from models import Link, OfferKind, RaceMetric, SubLink

# Matched against the lower-cased agent: IGNORECASE makes this regex ten times slower.
BOT_UA = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|embedly|whatsapp|"
    r"telegram|discord|slack|skype|vkshare|curl/|wget/|python-|httpx|aiohttp|go-http|"
    r"java/|okhttp|headless|phantomjs|lighthouse|monitor|pingdom|uptime"
)
MACROS = ("click_id", "sub", "affiliate_id", "offer_id", "link_code")
MACRO_RE = re.compile(r"\{([a-z_]+)\}")


def is_bot_agent(user_agent: str) -> bool:
    return not user_agent.strip() or bool(BOT_UA.search(user_agent.lower()))


def fill_macros(template: str, values: dict[str, str]) -> str:
    """Replace {macro} with its URL-encoded value; unknown names are left as they are."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return quote(values[name], safe="") if name in values else match.group(0)

    return MACRO_RE.sub(sub, template)


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


class TargetCache:
    """A small in-process LRU of resolved codes, so a click costs no lookup query."""

    def __init__(self, ttl: float = 30.0, size: int = 50_000) -> None:
        self.ttl = ttl
        self.size = size
        self._items: OrderedDict[str, tuple[float, Target | None]] = OrderedDict()

    def get(self, code: str) -> tuple[bool, Target | None]:
        item = self._items.get(code)
        if item is None or item[0] < time.monotonic():
            return False, None
        self._items.move_to_end(code)
        return True, item[1]

    def put(self, code: str, target: Target | None) -> None:
        self._items[code] = (time.monotonic() + self.ttl, target)
        self._items.move_to_end(code)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


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


class ClickWriter(GroupCommit[PendingClick, bool]):
    """Group commit of clicks: one Redis call decides which clicks of a batch are unique (per
    visitor, link, label and day), one multi-row INSERT stores them, and the caller's redirect
    goes out only once its row is committed; a busy second costs a few round trips."""

    name = "click"

    def __init__(
        self,
        redis: Redis,
        max_batch: int = 500,
        concurrency: int = 3,
        scoring: Callable[[list[ScoreEvent]], Awaitable[int]] | None = None,
    ) -> None:
        super().__init__(max_batch, concurrency)
        self.redis = redis
        self.scoring = scoring  # moves race scores in the same transaction as the clicks

    async def store(self, batch: list[PendingClick]) -> list[bool]:
        humans = [c for c in batch if c.unique_key is not None]
        if humans:
            keys = [c.unique_key for c in humans if c.unique_key is not None]
            answers = await self.redis.eval(FIRST_SEEN, len(keys), *keys, 2 * 86400)  # type: ignore[misc]
            for click, fresh in zip(humans, answers, strict=True):
                click.is_unique = bool(fresh)
        conn = Tortoise.get_connection("default")
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
        sql = multi_insert(conn, "click", INSERT_COLUMNS, len(batch))
        events = [
            ScoreEvent(RaceMetric.CLICKS, c.affiliate_id, c.offer_id, c.created_at, final=1)
            for c in batch
            if c.is_unique
        ]
        if events and self.scoring is not None:
            async with in_transaction():  # the clicks and the race scores they move, together
                await Tortoise.get_connection("default").execute_query(sql, values)
                await self.scoring(events)
        else:  # one statement is one transaction: a single round trip
            await conn.execute_query(sql, values)
        return [c.is_unique for c in batch]


class ClickService:
    """Counts a visit (raw, unique per visitor per day, bots flagged) and says where to go."""

    def __init__(
        self,
        redis: Redis,
        urls: LinkUrls,
        salt: bytes,
        cache: TargetCache | None = None,
        races: RaceService | None = None,
    ) -> None:
        self.redis = redis
        self.urls = urls
        self.salt = salt
        self.cache = cache or TargetCache()
        self.writer = ClickWriter(redis, scoring=races.apply if races is not None else None)
        self._subs: dict[tuple[int, str], tuple[float, bool]] = {}

    async def resolve(self, code: str) -> Target | None:
        hit, target = self.cache.get(code)
        if hit:
            return target
        link = await Link.get_or_none(code=code).select_related("offer")
        target = None
        if link is not None:
            offer = link.offer
            target = Target(
                link_id=link.id,
                code=link.code,
                affiliate_id=link.affiliate_id,
                offer_id=link.offer_id,
                kind=offer.kind if offer else None,
                target_url=offer.target_url if offer else None,
                active=offer.is_active if offer else True,
            )
        self.cache.put(code, target)
        return target

    def visitor_id(self, ip: str, user_agent: str) -> str:
        digest = hmac.new(self.salt, f"{ip}\n{user_agent}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    async def track(self, code: str, sub: str | None, ip: str, user_agent: str) -> str:
        """Record one click and return the URL to send the visitor to."""
        target = await self.resolve(code.lower())
        if target is None or not target.active:
            raise NotFound(N_("This link does not exist or is no longer active."))
        if sub is not None and not await self._known_sub(target.affiliate_id, sub):
            sub = None
        now = datetime.now(UTC)
        user_agent = user_agent[:256]
        is_bot = is_bot_agent(user_agent)
        visitor = self.visitor_id(ip, user_agent)
        click = PendingClick(
            click_id=secrets.token_hex(16),
            link_id=target.link_id,
            sub=sub,
            visitor=visitor,
            is_bot=is_bot,
            user_agent=user_agent,
            created_at=now,
            unique_key=None
            if is_bot
            else f"click:u:{target.link_id}:{sub or ''}:{visitor}:{now:%Y%m%d}",
            affiliate_id=target.affiliate_id,
            offer_id=target.offer_id,
        )
        await self.writer.submit(click)
        return self.destination(target, click.click_id, sub)

    def destination(self, target: Target, click_id: str, sub: str | None) -> str:
        if target.kind is OfferKind.URL and target.target_url:
            return fill_macros(
                target.target_url,
                {
                    "click_id": click_id,
                    "sub": sub or "",
                    "affiliate_id": str(target.affiliate_id),
                    "offer_id": str(target.offer_id or ""),
                    "link_code": target.code,
                },
            )
        return self.urls.for_link(target.code, target.kind, sub)

    async def _known_sub(self, affiliate_id: int, sub: str) -> bool:
        """Whether the affiliate has this label, cached in process for a minute."""
        key = (affiliate_id, sub)
        cached = self._subs.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        known = await SubLink.exists(affiliate_id=affiliate_id, label=sub)
        if len(self._subs) > 50_000:
            self._subs.clear()
        self._subs[key] = (time.monotonic() + 60, known)
        return known

    async def close(self) -> None:
        await self.writer.close()
