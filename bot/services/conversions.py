"""Conversions: recording them exactly once, moving their status, holds and reviews.

Whatever reported it (an advertiser's postback, a channel join), a conversion is a `Claim`.
Its row, its status and its ledger rows are written in one transaction, and a unique (offer,
txid) is the last line of defence: a repeat, even a concurrent one, never counts twice and
gets the first answer. The answers are typed (`Answer`, with a `Verdict` and, for a refusal,
a `Refusal`); the HTTP edge maps them to statuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tortoise.transactions import in_transaction

from bot.errors import N_, Conflict, NotFound
from bot.services import ledger
from bot.services.cache import TtlCache
from bot.services.conversion_writer import (
    ConversionWriter,
    NewConversion,
    PendingConversion,
    earned,
    race_events,
)
from bot.services.races import Scoring
from models import AffiliateRate, Conversion, ConversionStatus, Offer

CACHE_SECONDS = 30.0
ALLOWED_MOVES = {
    (ConversionStatus.PENDING, ConversionStatus.APPROVED),
    (ConversionStatus.PENDING, ConversionStatus.REJECTED),
    (ConversionStatus.APPROVED, ConversionStatus.REVERSED),
}


class Verdict(StrEnum):
    STORED = "stored"  # something new happened: a conversion stored or its status moved
    DUPLICATE = "duplicate"  # a repeat: nothing changed, the first result is told again
    REJECTED = "rejected"
    TEST = "test"  # a test postback (test=1): valid as sent, nothing stored


class Refusal(StrEnum):
    """Why a report was rejected (the HTTP edge makes a status of it)."""

    INVALID = "invalid"  # a bad or missing parameter
    UNAUTHENTICATED = "unauthenticated"  # signature, token or time
    FORBIDDEN = "forbidden"  # an address not allowed, or the affiliate's own conversion
    UNKNOWN = "unknown"  # no such offer, click or code
    CONFLICT = "conflict"  # a status move that is not allowed


@dataclass(frozen=True, slots=True)
class Answer:
    """What became of one report."""

    verdict: Verdict
    conversion_id: int | None = None
    status: ConversionStatus | None = None
    reason: str | None = None
    refusal: Refusal | None = None
    affiliate_id: int | None = None  # whom to tell, when something new was stored
    held: str | None = None  # why a new conversion waits for an admin's review


def refused(refusal: Refusal, reason: str) -> Answer:
    return Answer(Verdict.REJECTED, reason=reason, refusal=refusal)


@dataclass(frozen=True, slots=True)
class LinkRef:
    """The link a conversion is credited through (what recording needs of it)."""

    id: int
    affiliate_id: int
    banned: bool = False  # the affiliate is banned: nothing through it counts


@dataclass(frozen=True, slots=True)
class ClickRef:
    """The click a conversion came from (what recording needs of it)."""

    id: int
    is_bot: bool
    created_at: datetime


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


class ConversionService:
    """Stores conversions exactly once, moves their status, and keeps the ledger in step."""

    def __init__(
        self,
        min_click_seconds: int = 10,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        races: Scoring | None = None,
    ) -> None:
        self.min_click_seconds = min_click_seconds
        self.clock = clock
        self.races = races
        # Read on every new conversion, changed rarely: dropped at once when this process
        # changes rates (OfferService's on_change).
        self._rates: TtlCache[tuple[int, int], AffiliateRate | None] = TtlCache(
            CACHE_SECONDS, 100_000
        )
        self.writer = ConversionWriter(races, self.clock)

    async def close(self) -> None:
        await self.writer.close()

    def forget_rates(self) -> None:
        self._rates.clear()

    async def _rate(self, affiliate_id: int, offer_id: int) -> AffiliateRate | None:
        found, rate = self._rates.get((affiliate_id, offer_id))
        if not found:
            rate = await AffiliateRate.get_or_none(affiliate_id=affiliate_id, offer_id=offer_id)
            self._rates.put((affiliate_id, offer_id), rate)
        return rate

    async def _score(self, conversion: Conversion, final: int, provisional: int) -> None:
        if self.races is not None:
            await self.races.apply(race_events(conversion, final, provisional))

    # -- recording ---------------------------------------------------------------------------

    async def record(self, claim: Claim) -> Answer:
        """Store a new conversion; a known txid moves the one stored instead.

        New ones are inserted straight away, a batch of them at a time (group commit): the
        unique (offer, txid) tells a repeat, which then takes the ordinary path. Each caller's
        answer waits for its batch's commit.
        """
        if claim.status is ConversionStatus.REVERSED:
            existing = await Conversion.get_or_none(offer_id=claim.offer.id, txid=claim.txid)
            if existing is None:
                return refused(
                    Refusal.CONFLICT, "cannot reverse a conversion that was never approved"
                )
            return await self.move(existing, claim.status)
        now = self.clock()
        review = claim.review_reason or self._fraud_reason(claim, now)
        status = claim.status
        if review and status is ConversionStatus.APPROVED:
            status = ConversionStatus.PENDING  # held for review instead of auto-approved
        elif status is ConversionStatus.PENDING and not review and claim.offer.hold_days == 0:
            # No hold to wait out: approved now (and told so), not pending until the next
            # sweep quietly makes it available.
            status = ConversionStatus.APPROVED
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
            commission_minor=ledger.commission(claim.offer, rate, claim.event, claim.amount_minor),
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
        return Answer(
            Verdict.STORED,
            conversion.id,
            conversion.status,
            reason=f"held for review: {review}" if review else None,
            affiliate_id=conversion.affiliate_id,
            held=review,
        )

    def _fraud_reason(self, claim: Claim, now: datetime) -> str | None:
        if claim.click is None:
            return None
        if claim.click.is_bot:
            return "click from a bot"
        if now - claim.click.created_at < timedelta(seconds=self.min_click_seconds):
            return "too soon after the click"
        return None

    async def move(self, conversion: Conversion, new: ConversionStatus) -> Answer:
        """Apply a status change once; a repeat of the current status is a duplicate, and the
        loser of two opposite moves racing hears the status it found."""
        old = conversion.status
        if new is old or (
            conversion.review
            and new is ConversionStatus.APPROVED
            and old is ConversionStatus.PENDING
        ):
            return Answer(Verdict.DUPLICATE, conversion.id, old)
        if (old, new) not in ALLOWED_MOVES:
            return self._not_allowed(conversion.id, old, new)
        offer = await Offer.get(id=conversion.offer_id)
        async with in_transaction() as conn:
            moved = await Conversion.filter(id=conversion.id, status=old).update(
                status=new, decided_at=self.clock()
            )
            if not moved:  # someone else moved it first: a repeat if they moved it here
                fresh = await Conversion.get(id=conversion.id)
                if fresh.status is new:
                    return Answer(Verdict.DUPLICATE, fresh.id, fresh.status)
                return self._not_allowed(fresh.id, fresh.status, new)
            conversion.status = new
            if new is ConversionStatus.APPROVED:
                await ledger.credit(conn, [earned(conversion, offer)], self.clock())
                await self._score(conversion, 1, -1)
            elif new is ConversionStatus.REJECTED:
                await self._score(conversion, 0, -1)
            elif new is ConversionStatus.REVERSED:
                await ledger.claw_back(conversion.id)
                await self._score(conversion, -1, 0)
        return Answer(Verdict.STORED, conversion.id, new)

    @staticmethod
    def _not_allowed(conversion_id: int, old: ConversionStatus, new: ConversionStatus) -> Answer:
        return Answer(
            Verdict.REJECTED,
            conversion_id,
            old,
            reason=f"cannot move from {old.value} to {new.value}",
            refusal=Refusal.CONFLICT,
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
                answer = await self.move(conversion, ConversionStatus.APPROVED)
                if answer.verdict is Verdict.STORED:
                    approved.append(conversion.id)
        return approved

    async def held_for_review(self, limit: int = 30) -> list[Conversion]:
        return (
            await Conversion.filter(review=True, status=ConversionStatus.PENDING)
            .order_by("id")
            .limit(limit)
            .select_related("affiliate", "offer")
        )

    async def decide_review(self, conversion_id: int, approve: bool) -> ConversionStatus:
        """An admin's decision on a conversion held for review; returns its status now."""
        conversion = await Conversion.get_or_none(id=conversion_id)
        if conversion is None:
            raise NotFound(N_("There is no conversion #{id}."), id=conversion_id)
        await Conversion.filter(id=conversion.id).update(review=False)
        conversion.review = False
        target = ConversionStatus.APPROVED if approve else ConversionStatus.REJECTED
        answer = await self.move(conversion, target)
        if answer.refusal is Refusal.CONFLICT:
            raise Conflict(
                N_("Conversion #{id} is already {status}."),
                id=conversion_id,
                status=answer.status.value if answer.status else "",
            )
        return target
