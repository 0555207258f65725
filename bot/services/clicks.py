"""Click tracking for /r/CODE: resolve the code, append the click to the spool, build the
target."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

from loguru import logger

from bot.errors import N_, NotFound, outage
from bot.services.cache import TtlCache
from bot.services.click_store import record
from bot.services.inputs import clean_header
from bot.services.links import LinkService, LinkUrls
from bot.services.spool import Spool
from models import Link, OfferKind

# Matched against the lower-cased agent: IGNORECASE makes this regex ten times slower.
BOT_UA = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|embedly|whatsapp|"
    r"telegram|discord|slack|skype|vkshare|curl/|wget/|python-|httpx|aiohttp|go-http|"
    r"java/|okhttp|headless|phantomjs|lighthouse|monitor|pingdom|uptime"
)
MACROS = ("click_id", "sub", "affiliate_id", "offer_id", "link_code")
MACRO_RE = re.compile(r"\{([a-z_]+)\}")
AWAY_SECONDS = 5.0  # after an outage error, how long known links skip the database
STALE_LOG_SECONDS = 10.0  # how often resolving from stale knowledge is logged
IDS_AT_ONCE = 512
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
    banned: bool = False  # the affiliate is banned: the visitor goes on, nothing is counted


TargetCache = TtlCache[str, "Target | None"]


def target_cache() -> TargetCache:
    """Resolved codes, so a click costs no lookup query; offers clear it when they change."""
    return TtlCache(ttl=30.0, size=50_000)


class ClickService:
    """Counts a visit (raw, unique per visitor per day, bots flagged) and says where to go.
    A click is appended to the spool and the visitor sent on at once: no database, Redis or
    disk sync is waited for (the loader stores it within about a second)."""

    def __init__(
        self,
        spool: Spool,
        urls: LinkUrls,
        salt: bytes,
        cache: TargetCache | None = None,
    ) -> None:
        self.spool = spool
        self.urls = urls
        self.salt = salt
        self.cache = cache if cache is not None else target_cache()
        self.links = LinkService()
        self._labels: TtlCache[tuple[int, str], bool] = TtlCache(ttl=60, size=50_000)
        self._agents: dict[str, bool] = {}
        self._stale_logged = 0.0
        self._away_until = 0.0
        self._ids: Iterator[str] = iter(())
        self.tracked = 0  # clicks written to the spool since the start (metrics)

    @property
    def lost(self) -> int:
        """Redirects answered whose click could not be written to the spool (since the
        start)."""
        return self.spool.lost

    async def resolve(self, code: str) -> Target | None:
        hit, target = self.cache.get(code)
        if hit:
            return target
        link = await Link.get_or_none(code=code).select_related("offer", "affiliate")
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
                banned=link.affiliate.is_banned,
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

    async def _active(self, code: str) -> Target:
        """The code's target: cached, else looked up; while the database cannot answer, what
        this process last knew of it (a visitor is sent on whenever the code is known)."""
        hit, target = self.cache.get(code)
        if not hit and self._database_away():
            hit, target = self.cache.get(code, stale_ok=True)
        if not hit:
            try:
                target = await self.resolve(code)
            except Exception as exc:
                hit, target = self.cache.get(code, stale_ok=True)
                if outage(exc) is None or not hit:
                    raise
                self._note_outage(exc)
        if target is None or not target.active:
            raise NotFound(N_("This link does not exist or is no longer active."))
        return target

    async def _label(self, target: Target, sub: str | None) -> str | None:
        """The label if the affiliate has it; an unknown one counts on the plain link (as does
        one that cannot be checked while the database is away)."""
        if sub is None:
            return None
        found, known = self._labels.get((target.affiliate_id, sub))
        if not found and self._database_away():
            found, known = self._labels.get((target.affiliate_id, sub), stale_ok=True)
            return sub if found and known else None
        if not found:
            try:
                known = await self.links.has_sublink(target.affiliate_id, sub)
            except Exception as exc:
                found, known = self._labels.get((target.affiliate_id, sub), stale_ok=True)
                if outage(exc) is None:
                    raise
                self._note_outage(exc)
                return sub if found and known else None
            self._labels.put((target.affiliate_id, sub), known)
        return sub if known else None

    def _database_away(self) -> bool:
        """Just after an outage error: a redirect does not wait on the database again."""
        return time.monotonic() < self._away_until

    def _note_outage(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._away_until = now + AWAY_SECONDS
        if now - self._stale_logged >= STALE_LOG_SECONDS:
            self._stale_logged = now
            logger.warning(
                "the {} is unavailable: links are resolved from what this process last knew",
                outage(exc),
            )

    async def peek(self, code: str, sub: str | None) -> str:
        """Where a click would be sent, without recording one (for HEAD)."""
        target = await self._active(code)
        return self.destination(target, "", await self._label(target, sub))

    async def track(self, code: str, sub: str | None, ip: str, user_agent: str) -> str:
        """Record one click in the spool and return the URL to send the visitor to."""
        target = await self._active(code)
        sub = await self._label(target, sub)
        if target.banned:  # a banned affiliate's link still works for the visitor
            return self.destination(target, "", sub)
        user_agent = clean_header(user_agent, 256)
        click_id = self._click_id()
        self.spool.append(
            record(
                click_id,
                target.link_id,
                sub,
                self.visitor_id(ip, user_agent),
                self.is_bot(user_agent),
                user_agent,
                time.time_ns() // 1000,
                target.affiliate_id,
                target.offer_id,
            )
        )
        self.tracked += 1
        return self.destination(target, click_id, sub)

    def _click_id(self) -> str:
        """128 random bits in hex, drawn from the system 512 at a time (one syscall per click
        was a tenth of the redirect's own cost)."""
        try:
            return next(self._ids)
        except StopIteration:
            pool = os.urandom(16 * IDS_AT_ONCE).hex()
            self._ids = iter([pool[i : i + 32] for i in range(0, len(pool), 32)])
            return next(self._ids)

    def destination(self, target: Target, click_id: str, sub: str | None) -> str:
        if target.pattern is not None:
            return target.pattern.format(click_id, quote(sub, safe="") if sub else "")
        return self.urls.for_link(target.code, target.kind, sub)
