"""Conversions: advertisers' postbacks and channel joins, commissions, and the ledger rows.

The conversion row, its status and its ledger rows are written in one transaction, and a
unique (offer, txid) is the last line of defence: a repeat, even a concurrent one, never
counts twice and gets the first answer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from bot.errors import InvalidInput
from bot.services.batching import GroupCommit, db_time, multi_insert
from bot.services.codes import check_label, read_code
from bot.services.inputs import ascii_int, tg_id
from bot.services.money import to_minor
from bot.services.races import RaceService, ScoreEvent, as_datetime
from models import (
    Affiliate,
    AffiliateRate,
    Conversion,
    ConversionStatus,
    LedgerEntry,
    LedgerKind,
    Link,
    Offer,
    RaceMetric,
    Referral,
)

TS_WINDOW = 300
CACHE_SECONDS = 30.0
# Whole-string patterns (always fullmatch): an advertiser's value is taken as sent or refused.
TXID_RE = re.compile(r"[\x21-\x7e]{1,128}")
EVENT_RE = re.compile(r"[a-z0-9_.-]{1,32}")
WORD_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # an event or status word, before lower-casing
CURRENCY_RE = re.compile(r"[A-Za-z]{3}")
CLICK_ID_RE = re.compile(r"[0-9a-fA-F]{32}")
SIG_RE = re.compile(r"[0-9a-fA-F]{64}")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
TS_MAX = 10**11  # unix seconds, year 5138: anything longer is not a time
DEFAULT_STATUS_WORDS = {
    "pending": ConversionStatus.PENDING,
    "hold": ConversionStatus.PENDING,
    "approved": ConversionStatus.APPROVED,
    "confirmed": ConversionStatus.APPROVED,
    "paid": ConversionStatus.APPROVED,
    "rejected": ConversionStatus.REJECTED,
    "declined": ConversionStatus.REJECTED,
    "cancelled": ConversionStatus.REJECTED,
    "reversed": ConversionStatus.REVERSED,
    "chargeback": ConversionStatus.REVERSED,
    "refunded": ConversionStatus.REVERSED,
}
ALLOWED_MOVES = {
    (ConversionStatus.PENDING, ConversionStatus.APPROVED),
    (ConversionStatus.PENDING, ConversionStatus.REJECTED),
    (ConversionStatus.APPROVED, ConversionStatus.REVERSED),
}


UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # RFC 3986: nothing in it is percent-encoded


def encode(value: str) -> str:
    return value if UNRESERVED.fullmatch(value) else quote(value, safe="-_.~")


def canonical(params: Mapping[str, str]) -> str:
    """Every parameter but sig, sorted by name, as name=value (RFC 3986 encoded), joined by &."""
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(params.items()) if k != "sig")


def sign(params: Mapping[str, str], secret: str) -> str:
    return hmac.new(secret.encode(), canonical(params).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to an advertiser: stored, duplicate (with the first result) or rejected."""

    result: str
    http_status: int
    conversion_id: int | None = None
    status: str | None = None
    reason: str | None = None
    affiliate_id: int | None = None  # whom to tell, when something new was stored

    def body(self) -> dict[str, object]:
        return {
            "result": self.result,
            "conversion_id": self.conversion_id,
            "status": self.status,
            "reason": self.reason,
        }


def rejected(http_status: int, reason: str) -> Outcome:
    return Outcome("rejected", http_status, reason=reason)


@dataclass(frozen=True, slots=True)
class LinkRef:
    """The link a conversion is credited through (what recording needs of it)."""

    id: int
    affiliate_id: int


@dataclass(frozen=True, slots=True)
class ClickRef:
    """The click a conversion came from (what recording needs of it)."""

    id: int
    is_bot: bool
    created_at: datetime


@dataclass(slots=True)
class NewConversion:
    """A conversion row before it is stored: plain data, cheaper to build than a model on the
    path every postback takes. `id` is set once its batch is committed."""

    offer_id: int
    affiliate_id: int
    link_id: int
    click_id: int | None
    sub: str | None
    txid: str
    event: str
    amount_minor: int
    currency: str
    commission_minor: int
    status: ConversionStatus
    review: bool
    review_reason: str | None
    created_at: datetime
    decided_at: datetime | None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A conversion to record, whatever reported it."""

    offer: Offer
    link: LinkRef
    click: ClickRef | None
    sub: str | None
    txid: str
    event: str
    amount_minor: int
    currency: str
    status: ConversionStatus
    review_reason: str | None = None


def commission(offer: Offer, rate: AffiliateRate | None, event: str, amount_minor: int) -> int:
    """Fixed per event (or the offer's payout) plus the RevShare part, rounded half up."""
    fixed = offer.payout_minor
    if offer.event_payouts and event in offer.event_payouts:
        fixed = int(offer.event_payouts[event])
    share_bp = offer.revshare_bp
    if rate is not None:
        fixed = rate.payout_minor if rate.payout_minor is not None else fixed
        share_bp = rate.revshare_bp if rate.revshare_bp is not None else share_bp
    return fixed + (max(amount_minor, 0) * share_bp + 5000) // 10000


def race_events(
    conversion: Conversion | NewConversion, final: int, provisional: int
) -> list[ScoreEvent]:
    """What a conversion is worth in each race metric, times the signs given."""
    worth = {
        RaceMetric.CONVERSIONS: 0 if conversion.event == "join" else 1,
        RaceMetric.JOINS: 1 if conversion.event == "join" else 0,
        RaceMetric.REVENUE: conversion.amount_minor,
        RaceMetric.COMMISSION: conversion.commission_minor,
    }
    money = {RaceMetric.REVENUE, RaceMetric.COMMISSION}
    return [
        ScoreEvent(
            metric,
            conversion.affiliate_id,
            conversion.offer_id,
            conversion.created_at,
            final=final * value,
            provisional=provisional * value,
            currency=conversion.currency if metric in money else None,
        )
        for metric, value in worth.items()
        if value
    ]


CONVERSION_COLUMNS = (
    "offer_id",
    "affiliate_id",
    "link_id",
    "click_id",
    "sub",
    "txid",
    "event",
    "amount_minor",
    "currency",
    "commission_minor",
    "status",
    "review",
    "review_reason",
    "created_at",
    "decided_at",
)
LEDGER_COLUMNS = (
    "affiliate_id",
    "kind",
    "amount_minor",
    "currency",
    "key",
    "conversion_id",
    "note",
    "created_at",
)


@dataclass(slots=True)
class PendingConversion:
    conversion: NewConversion
    offer: Offer


class ConversionWriter(GroupCommit[PendingConversion, bool]):
    """Group commit for new conversions: one INSERT … ON CONFLICT DO NOTHING RETURNING for a
    batch, their ledger rows and race scores in the same transaction. A conversion whose
    (offer, txid) was already stored comes back False, for the caller's repeat path."""

    name = "conversion"

    def __init__(self, service: ConversionService, max_batch: int = 200, concurrency: int = 3):
        super().__init__(max_batch, concurrency)
        self.service = service

    async def store(self, batch: list[PendingConversion]) -> list[bool]:
        async with in_transaction() as conn:
            values: list[object] = []
            for item in batch:
                c = item.conversion
                values += [
                    c.offer_id,
                    c.affiliate_id,
                    c.link_id,
                    c.click_id,
                    c.sub,
                    c.txid,
                    c.event,
                    c.amount_minor,
                    c.currency,
                    c.commission_minor,
                    c.status.value,
                    c.review,
                    c.review_reason,
                    db_time(conn, c.created_at),
                    db_time(conn, c.decided_at),
                ]
            sql = multi_insert(conn, "conversion", CONVERSION_COLUMNS, len(batch))
            sql += " ON CONFLICT (offer_id, txid) DO NOTHING RETURNING id, offer_id, txid"
            rows = await conn.execute_query_dict(sql, values)
            ids = {(int(r["offer_id"]), str(r["txid"])): int(r["id"]) for r in rows}
            stored: list[bool] = []
            for item in batch:
                c = item.conversion
                new_id = ids.pop((c.offer_id, c.txid), None)  # a twin in the batch: a repeat
                stored.append(new_id is not None)
                if new_id is not None:
                    c.id = new_id
            approved = [
                item
                for item, ok in zip(batch, stored, strict=True)
                if ok and item.conversion.status is ConversionStatus.APPROVED
            ]
            await self._ledger(conn, approved)
            events: list[ScoreEvent] = []
            for item, ok in zip(batch, stored, strict=True):
                if not ok:
                    continue
                c = item.conversion
                if c.status is ConversionStatus.APPROVED:
                    events += race_events(c, 1, 0)
                elif c.status is ConversionStatus.PENDING:
                    events += race_events(c, 0, 1)
            if events and self.service.races is not None:
                await self.service.races.apply(events)
        return stored

    async def _ledger(self, conn: BaseDBAsyncClient, approved: list[PendingConversion]) -> None:
        """Earnings, and the referrer's share where the offer has a second level."""
        referrers: dict[int, int] = {}
        seconds = [p.conversion.affiliate_id for p in approved if p.offer.second_level_bp]
        if seconds:
            referrers = dict(
                await Referral.filter(referred_id__in=seconds).values_list(
                    "referred_id", "referrer_id"
                )
            )
        now = db_time(conn, datetime.now(UTC))
        rows: list[list[object]] = []
        for item in approved:
            c = item.conversion
            if c.commission_minor:
                rows.append(
                    [
                        c.affiliate_id,
                        LedgerKind.EARNING.value,
                        c.commission_minor,
                        c.currency,
                        f"c{c.id}:earn",
                        c.id,
                        "",
                        now,
                    ]
                )
            referrer = referrers.get(c.affiliate_id)
            if referrer is not None and item.offer.second_level_bp and c.commission_minor > 0:
                share = (c.commission_minor * item.offer.second_level_bp + 5000) // 10000
                if share:
                    rows.append(
                        [
                            referrer,
                            LedgerKind.REFERRAL_SHARE.value,
                            share,
                            c.currency,
                            f"c{c.id}:ref",
                            c.id,
                            "",
                            now,
                        ]
                    )
        if rows:
            sql = multi_insert(conn, "ledger", LEDGER_COLUMNS, len(rows))
            await conn.execute_query(sql, [v for row in rows for v in row])


class ConversionService:
    """Stores conversions exactly once, moves their status, and keeps the ledger in step."""

    def __init__(
        self,
        min_click_seconds: int = 10,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        races: RaceService | None = None,
    ) -> None:
        self.min_click_seconds = min_click_seconds
        self.clock = clock
        self.races = races
        # Offers and rates change rarely and are read on every postback: kept for a short
        # while in process, dropped at once when this process changes them.
        self._offers: dict[int, tuple[float, Offer | None]] = {}
        self._rates: dict[tuple[int, int], tuple[float, AffiliateRate | None]] = {}
        self.writer = ConversionWriter(self)

    async def close(self) -> None:
        await self.writer.close()

    def forget_offers(self) -> None:
        self._offers.clear()
        self._rates.clear()

    async def _offer(self, offer_id: int) -> Offer | None:
        cached = self._offers.get(offer_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        offer = await Offer.get_or_none(id=offer_id)
        if len(self._offers) > 10_000:
            self._offers.clear()
        self._offers[offer_id] = (time.monotonic() + CACHE_SECONDS, offer)
        return offer

    async def _rate(self, affiliate_id: int, offer_id: int) -> AffiliateRate | None:
        key = (affiliate_id, offer_id)
        cached = self._rates.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        rate = await AffiliateRate.get_or_none(affiliate_id=affiliate_id, offer_id=offer_id)
        if len(self._rates) > 100_000:
            self._rates.clear()
        self._rates[key] = (time.monotonic() + CACHE_SECONDS, rate)
        return rate

    async def _score(self, conversion: Conversion, final: int, provisional: int) -> None:
        if self.races is not None:
            await self.races.apply(race_events(conversion, final, provisional))

    # -- postbacks ---------------------------------------------------------------------------

    async def postback(self, offer_id: int, params: Mapping[str, str], ip: str) -> Outcome:
        """Check, parse and store one advertiser postback; every refusal names its reason."""
        offer = await self._offer(offer_id)
        if offer is None:
            return rejected(404, "unknown offer")
        problem = self._authenticate(offer, params)
        if problem is not None:
            return problem
        if offer.ip_allowlist and not ip_allowed(ip, offer.ip_allowlist):
            return rejected(403, f"address {ip} is not allowed for this offer")
        claim = await self._parse(offer, params)
        if isinstance(claim, Outcome):
            return claim
        return await self.record(claim)

    def _authenticate(self, offer: Offer, params: Mapping[str, str]) -> Outcome | None:
        if "sig" in params:
            if not offer.secret:
                return rejected(401, "this offer has no signing secret; use token")
            ts = ascii_int(params.get("ts", ""), TS_MAX)
            if ts is None:
                return rejected(401, "ts must be unix seconds")
            if abs(ts - time.time()) > TS_WINDOW:
                return rejected(401, "ts is more than 5 minutes from now")
            given = params["sig"]
            if not SIG_RE.fullmatch(given):
                return rejected(401, "bad signature")
            for secret in (offer.secret, offer.secret_previous):
                if secret and hmac.compare_digest(sign(params, secret), given.lower()):
                    return None
            return rejected(401, "bad signature")
        if "token" in params:
            given = params["token"]
            if (
                offer.token
                and TOKEN_RE.fullmatch(given)
                and hmac.compare_digest(given.encode(), offer.token.encode())
            ):
                return None
            return rejected(401, "bad token")
        return rejected(401, "missing sig (with ts) or token")

    async def _parse(self, offer: Offer, params: Mapping[str, str]) -> Claim | Outcome:
        fields = read_fields(offer, params)
        if isinstance(fields, Outcome):
            return fields
        attributed = await self._attribute(offer, fields.reference)
        if isinstance(attributed, Outcome):
            return attributed
        link, click, sub = attributed
        if fields.converter is not None and await Affiliate.exists(
            id=link.affiliate_id, tg_id=fields.converter
        ):
            return rejected(403, "an affiliate cannot convert through their own link")
        return Claim(
            offer,
            link,
            click,
            sub,
            fields.txid,
            fields.event,
            fields.amount_minor,
            offer.currency,
            fields.status,
        )

    async def _attribute(
        self, offer: Offer, reference: Reference
    ) -> tuple[LinkRef, ClickRef | None, str | None] | Outcome:
        """The link (and click) a postback names, or why it names none of ours."""
        unknown = rejected(404, "unknown click_id or code for this offer")
        if reference.click_id is not None:
            # Raw and in one round trip: this runs for every postback.
            conn = Tortoise.get_connection("default")
            mark = "$1" if conn.capabilities.dialect == "postgres" else "?"
            rows = await conn.execute_query_dict(
                "SELECT c.id, c.sub, c.is_bot, c.created_at, l.id AS link_id, l.code, "
                "l.affiliate_id, l.offer_id FROM click c JOIN link l ON l.id = c.link_id "
                f"WHERE c.click_id = {mark}",
                [reference.click_id],
            )
            if not rows or rows[0]["offer_id"] != offer.id:
                return unknown
            row = rows[0]
            link = LinkRef(id=row["link_id"], affiliate_id=row["affiliate_id"])
            click = ClickRef(
                id=row["id"], is_bot=bool(row["is_bot"]), created_at=as_datetime(row["created_at"])
            )
            return link, click, row["sub"]
        by_code = await Link.get_or_none(code=reference.code, offer_id=offer.id)
        if by_code is None:
            return unknown
        return LinkRef(id=by_code.id, affiliate_id=by_code.affiliate_id), None, reference.sub

    # -- recording ---------------------------------------------------------------------------

    async def record(self, claim: Claim) -> Outcome:
        """Store a new conversion; a known txid moves the one stored instead.

        New ones are inserted straight away, a batch of them at a time (group commit): the
        unique (offer, txid) tells a repeat, which then takes the ordinary path. Each caller's
        answer waits for its batch's commit.
        """
        if claim.status is ConversionStatus.REVERSED:
            existing = await Conversion.get_or_none(offer_id=claim.offer.id, txid=claim.txid)
            if existing is None:
                return rejected(409, "cannot reverse a conversion that was never approved")
            return await self.move(existing, claim.status)
        now = self.clock()
        review = claim.review_reason or self._fraud_reason(claim, now)
        status = claim.status
        if review and status is ConversionStatus.APPROVED:
            status = ConversionStatus.PENDING  # held for review instead of auto-approved
        rate = await self._rate(claim.link.affiliate_id, claim.offer.id)
        conversion = NewConversion(
            offer_id=claim.offer.id,
            affiliate_id=claim.link.affiliate_id,
            link_id=claim.link.id,
            click_id=claim.click.id if claim.click is not None else None,
            sub=claim.sub,
            txid=claim.txid,
            event=claim.event,
            amount_minor=claim.amount_minor,
            currency=claim.currency,
            commission_minor=commission(claim.offer, rate, claim.event, claim.amount_minor),
            status=status,
            review=bool(review),
            review_reason=review,
            created_at=now,
            decided_at=now if status is not ConversionStatus.PENDING else None,
        )
        stored = await self.writer.submit(PendingConversion(conversion, claim.offer))
        if not stored:  # a copy stored first (in this batch or before): answer as a repeat
            existing = await Conversion.get(offer_id=claim.offer.id, txid=claim.txid)
            return await self.move(existing, claim.status)
        return Outcome(
            "stored",
            200,
            conversion.id,
            conversion.status.value,
            reason=f"held for review: {review}" if review else None,
            affiliate_id=conversion.affiliate_id,
        )

    def _fraud_reason(self, claim: Claim, now: datetime) -> str | None:
        if claim.click is None:
            return None
        if claim.click.is_bot:
            return "click from a bot"
        if now - claim.click.created_at < timedelta(seconds=self.min_click_seconds):
            return "too soon after the click"
        return None

    async def move(self, conversion: Conversion, new: ConversionStatus) -> Outcome:
        """Apply a status change once; a repeat of the current status is a duplicate."""
        old = conversion.status
        if new is old or (
            conversion.review
            and new is ConversionStatus.APPROVED
            and old is ConversionStatus.PENDING
        ):
            return Outcome("duplicate", 200, conversion.id, old.value)
        if (old, new) not in ALLOWED_MOVES:
            return Outcome(
                "rejected",
                409,
                conversion.id,
                old.value,
                reason=f"cannot move from {old.value} to {new.value}",
            )
        offer = await Offer.get(id=conversion.offer_id)
        async with in_transaction():
            moved = await Conversion.filter(id=conversion.id, status=old).update(
                status=new, decided_at=self.clock()
            )
            if not moved:  # someone else moved it first: a repeat if they moved it here
                fresh = await Conversion.get(id=conversion.id)
                if fresh.status is new:
                    return Outcome("duplicate", 200, fresh.id, fresh.status.value)
                return Outcome(
                    "rejected",
                    409,
                    fresh.id,
                    fresh.status.value,
                    reason=f"cannot move from {fresh.status.value} to {new.value}",
                )
            conversion.status = new
            if new is ConversionStatus.APPROVED:
                await self._credit(conversion, offer)
                await self._score(conversion, 1, -1)
            elif new is ConversionStatus.REJECTED:
                await self._score(conversion, 0, -1)
            elif new is ConversionStatus.REVERSED:
                await self._claw_back(conversion)
                await self._score(conversion, -1, 0)
        return Outcome("stored", 200, conversion.id, new.value)

    async def _credit(self, conversion: Conversion, offer: Offer) -> None:
        if conversion.commission_minor:
            await LedgerEntry.create(
                affiliate_id=conversion.affiliate_id,
                kind=LedgerKind.EARNING,
                amount_minor=conversion.commission_minor,
                currency=conversion.currency,
                key=f"c{conversion.id}:earn",
                conversion_id=conversion.id,
            )
        if offer.second_level_bp and conversion.commission_minor > 0:
            referral = await Referral.get_or_none(referred_id=conversion.affiliate_id)
            share = (conversion.commission_minor * offer.second_level_bp + 5000) // 10000
            if referral is not None and share:
                await LedgerEntry.create(
                    affiliate_id=referral.referrer_id,
                    kind=LedgerKind.REFERRAL_SHARE,
                    amount_minor=share,
                    currency=conversion.currency,
                    key=f"c{conversion.id}:ref",
                    conversion_id=conversion.id,
                )

    async def _claw_back(self, conversion: Conversion) -> None:
        for entry in await LedgerEntry.filter(
            conversion_id=conversion.id,
            kind__in=[LedgerKind.EARNING, LedgerKind.REFERRAL_SHARE],
        ):
            await LedgerEntry.create(
                affiliate_id=entry.affiliate_id,
                kind=LedgerKind.REVERSAL,
                amount_minor=-entry.amount_minor,
                currency=entry.currency,
                key=f"{entry.key}:rev",
                conversion_id=conversion.id,
            )

    # -- the hold sweep and reviews ----------------------------------------------------------

    async def approve_due(self) -> list[int]:
        """Approve pending conversions whose offer's hold has passed (never those in review)."""
        now = self.clock()
        approved = []
        for offer in await Offer.all():
            due = await Conversion.filter(
                offer_id=offer.id,
                status=ConversionStatus.PENDING,
                review=False,
                created_at__lte=now - timedelta(days=offer.hold_days),
            ).limit(1000)
            for conversion in due:
                outcome = await self.move(conversion, ConversionStatus.APPROVED)
                if outcome.result == "stored":
                    approved.append(conversion.id)
        return approved

    async def held_for_review(self, limit: int = 30) -> list[Conversion]:
        return (
            await Conversion.filter(review=True, status=ConversionStatus.PENDING)
            .order_by("id")
            .limit(limit)
            .select_related("affiliate", "offer")
        )

    async def decide_review(self, conversion_id: int, approve: bool) -> Outcome:
        conversion = await Conversion.get_or_none(id=conversion_id)
        if conversion is None:
            return rejected(404, "unknown conversion")
        await Conversion.filter(id=conversion.id).update(review=False)
        conversion.review = False
        target = ConversionStatus.APPROVED if approve else ConversionStatus.REJECTED
        return await self.move(conversion, target)


def ip_allowed(ip: str, allowlist: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for item in allowlist.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            if address in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True, slots=True)
class Reference:
    """What a postback names to attribute it: our click id, or a link code (and label)."""

    click_id: str | None = None
    code: str | None = None
    sub: str | None = None


@dataclass(frozen=True, slots=True)
class Fields:
    """A postback's parameters, each read strictly; no database needed."""

    txid: str
    event: str
    amount_minor: int
    status: ConversionStatus
    converter: int | None
    reference: Reference


def read_reference(params: Mapping[str, str]) -> Reference | Outcome:
    if params.get("click_id"):
        click_id = params["click_id"]
        if not CLICK_ID_RE.fullmatch(click_id):
            return rejected(400, "click_id must be the 32 hex characters we sent")
        return Reference(click_id=click_id.lower())
    if params.get("code"):
        code = read_code(params["code"])
        if code is None:
            return rejected(400, "code must be an affiliate's link code")
        sub = None
        if params.get("sub"):
            sub = check_label(params["sub"])
            if sub is None:
                return rejected(400, "sub must be a label: a-z 0-9 and inner dashes, 1-32")
        return Reference(code=code, sub=sub)
    return rejected(404, "unknown click_id or code for this offer")


def read_fields(offer: Offer, params: Mapping[str, str]) -> Fields | Outcome:
    """Every parameter of a postback read strictly (whole-string matches, ASCII digits, no
    surrounding whitespace), or the first one that is wrong, named in a 400."""
    txid = params.get("txid", "")
    if not TXID_RE.fullmatch(txid):
        return rejected(400, "txid is missing or not 1-128 printable characters")
    event = params.get("event", "")
    if not WORD_RE.fullmatch(event):
        return rejected(400, "event is missing or not 1-32 of a-z 0-9 _ . -")
    currency = params.get("currency", offer.currency)
    if not CURRENCY_RE.fullmatch(currency) or currency.upper() != offer.currency:
        return rejected(400, f"currency must be {offer.currency} for this offer")
    try:
        amount_minor = to_minor(params.get("amount", "0") or "0", offer.currency, comma=False)
    except InvalidInput:
        return rejected(400, "amount must be a non-negative decimal like 12.50")
    word = params.get("status", "approved")
    status_words = {
        **DEFAULT_STATUS_WORDS,
        **{k.lower(): ConversionStatus(v) for k, v in (offer.status_map or {}).items()},
    }
    if not WORD_RE.fullmatch(word) or word.lower() not in status_words:
        return rejected(400, f"status {word[:32]!r} is not one this offer knows")
    converter: int | None = None
    if "tg_user_id" in params:
        converter = tg_id(params["tg_user_id"])
        if converter is None:
            return rejected(400, "tg_user_id must be a Telegram user id (digits)")
    reference = read_reference(params)
    if isinstance(reference, Outcome):
        return reference
    return Fields(
        txid, event.lower(), amount_minor, status_words[word.lower()], converter, reference
    )
