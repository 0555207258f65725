"""Click tracking for /r/CODE: resolve the code, record the click durably, build the target."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from loguru import logger
from redis.asyncio import Redis
from tortoise.transactions import in_transaction

from bot.errors import N_, NotFound
from bot.services.links import LinkUrls
from bot.services.races import RaceService, ScoreEvent
from models import Click, Link, OfferKind, RaceMetric, SubLink

BOT_UA = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|embedly|whatsapp|"
    r"telegram|discord|slack|skype|vkshare|curl/|wget/|python-|httpx|aiohttp|go-http|"
    r"java/|okhttp|headless|phantomjs|lighthouse|monitor|pingdom|uptime",
    re.IGNORECASE,
)
MACROS = ("click_id", "sub", "affiliate_id", "offer_id", "link_code")
MACRO_RE = re.compile(r"\{([a-z_]+)\}")


def is_bot_agent(user_agent: str) -> bool:
    return not user_agent.strip() or bool(BOT_UA.search(user_agent))


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


class ClickWriter:
    """Group commit: clicks arriving together are inserted in one transaction.

    Each caller waits until its own row is committed, so a redirect is only sent for a
    click that is on disk, yet a busy second costs a few commits rather than thousands.
    """

    def __init__(
        self,
        max_batch: int = 500,
        scoring: Callable[[list[ScoreEvent]], Awaitable[int]] | None = None,
    ) -> None:
        self.max_batch = max_batch
        self.scoring = scoring  # moves race scores in the same transaction as the clicks
        self._pending: list[tuple[Click, ScoreEvent | None, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def write(self, click: Click, event: ScoreEvent | None = None) -> None:
        if self._closed:
            raise RuntimeError("click writer is closed")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="click-writer")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((click, event, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while not self._closed or self._pending:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            await asyncio.sleep(0)  # let requests already running join this batch
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                async with in_transaction():
                    await Click.bulk_create([click for click, _, _ in batch])
                    events = [event for _, event, _ in batch if event is not None]
                    if events and self.scoring is not None:
                        await self.scoring(events)
            except Exception as exc:  # every waiter hears of it; the writer goes on
                logger.exception("could not store {} clicks", len(batch))
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def close(self) -> None:
        """Finish the clicks already accepted, then stop."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task


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
        self.writer = ClickWriter(scoring=races.apply if races is not None else None)

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
        is_unique = False
        if not is_bot:
            key = f"click:u:{target.link_id}:{sub or ''}:{visitor}:{now:%Y%m%d}"
            is_unique = bool(await self.redis.set(key, b"1", nx=True, ex=2 * 86400))
        click = Click(
            click_id=uuid.uuid4().hex,
            link_id=target.link_id,
            sub=sub,
            visitor=visitor,
            is_unique=is_unique,
            is_bot=is_bot,
            user_agent=user_agent,
            created_at=now,
        )
        event = None
        if is_unique:  # races count unique human clicks
            event = ScoreEvent(
                RaceMetric.CLICKS, target.affiliate_id, target.offer_id, now, final=1
            )
        await self.writer.write(click, event)
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
        key = f"sub:{affiliate_id}:{sub}"
        cached = await self.redis.get(key)
        if cached is not None:
            return cached == b"1"
        known = await SubLink.exists(affiliate_id=affiliate_id, label=sub)
        await self.redis.set(key, b"1" if known else b"0", ex=60)
        return known

    async def close(self) -> None:
        await self.writer.close()
