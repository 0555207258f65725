"""Balances (sums over the append-only ledger), history, and payout requests."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from bot.errors import N_, Conflict, InvalidInput, NotFound
from bot.services.amounts import format_money, from_minor, to_minor
from bot.services.inputs import has_control
from models import (
    Affiliate,
    Conversion,
    ConversionStatus,
    LedgerEntry,
    LedgerKind,
    PayoutRequest,
    PayoutStatus,
    Race,
    RaceEntry,
)

PAGE = 10
DETAILS_MAX = 512


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    available_minor: int
    pending_minor: int


@dataclass(frozen=True, slots=True)
class Payout:
    id: int
    affiliate_id: int
    affiliate_tg_id: int
    amount_minor: int
    currency: str
    details: str
    status: PayoutStatus
    affiliate_name: str = ""
    affiliate_username: str | None = None
    note: str = ""  # the admin's reason, for a decision
    requested_at: datetime | None = None
    reference: str = ""  # the admin's reference of the transfer, once paid


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A manual correction as recorded, and the balance in its currency after it."""

    entry_id: int
    affiliate_id: int
    affiliate_tg_id: int
    affiliate_name: str
    affiliate_username: str | None
    amount_minor: int
    currency: str
    note: str
    balance_minor: int


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One ledger row as the affiliate reads it: what moved, when, and what it was for."""

    kind: LedgerKind
    amount_minor: int
    currency: str
    created_at: datetime
    offer_title: str | None = None  # earnings, reversals and shares: the conversion's offer
    race_title: str | None = None  # prizes
    place: int | None = None
    payout_id: int | None = None  # payouts and returned payouts
    note: str = ""  # an admin's own words: the reason of an adjustment or a returned payout


PRIZE_KEY = re.compile(r"race(\d+):prize:\d+")
PAYOUT_KEY = re.compile(r"p(\d+):(?:out|ret)")
ADMIN_NOTES = {LedgerKind.ADJUSTMENT, LedgerKind.PAYOUT_RETURN}


def _number_in(key: str, pattern: re.Pattern[str]) -> int | None:
    """The id a ledger key carries (the keys are written by this code: see their creators)."""
    found = pattern.fullmatch(key)
    return int(found.group(1)) if found else None


class BalanceService:
    """Money an affiliate has: approved (ledger) and pending (conversions not yet approved)."""

    def __init__(
        self, minimum: Decimal = Decimal("10"), clock: Callable[[], datetime] | None = None
    ) -> None:
        self.minimum = minimum
        self.clock = clock or (lambda: datetime.now(UTC))

    async def balances(self, affiliate_id: int) -> list[Balance]:
        available = {
            row["currency"]: int(row["total"] or 0)
            for row in await LedgerEntry.filter(affiliate_id=affiliate_id)
            .group_by("currency")
            .annotate(total=Sum("amount_minor"))
            .values("currency", "total")
        }
        pending = {
            row["currency"]: int(row["total"] or 0)
            for row in await Conversion.filter(
                affiliate_id=affiliate_id, status=ConversionStatus.PENDING
            )
            .group_by("currency")
            .annotate(total=Sum("commission_minor"))
            .values("currency", "total")
        }
        return [
            Balance(c, available.get(c, 0), pending.get(c, 0))
            for c in sorted(set(available) | set(pending))
        ]

    async def history(self, affiliate_id: int, page: int = 0) -> tuple[list[HistoryItem], bool]:
        """A page of the ledger, newest first, each row with what it was for: the offer of a
        conversion's money, the race and place of a prize, the payout request's number."""
        rows = (
            await LedgerEntry.filter(affiliate_id=affiliate_id)
            .order_by("-id")
            .offset(page * PAGE)
            .limit(PAGE + 1)
            .select_related("conversion__offer")
        )
        shown = rows[:PAGE]
        race_ids = {r for e in shown if (r := _number_in(e.key, PRIZE_KEY)) is not None}
        races = dict(await Race.filter(id__in=race_ids).values_list("id", "title"))
        places = {
            race_id: place
            for race_id, place in await RaceEntry.filter(
                race_id__in=race_ids, affiliate_id=affiliate_id
            ).values_list("race_id", "final_place")
        }
        items = []
        for entry in shown:
            race_id = _number_in(entry.key, PRIZE_KEY)
            conversion = entry.conversion
            items.append(
                HistoryItem(
                    kind=entry.kind,
                    amount_minor=entry.amount_minor,
                    currency=entry.currency,
                    created_at=entry.created_at,
                    offer_title=conversion.offer.title if conversion is not None else None,
                    race_title=races.get(race_id) if race_id is not None else None,
                    place=places.get(race_id) if race_id is not None else None,
                    payout_id=_number_in(entry.key, PAYOUT_KEY),
                    note=entry.note if entry.kind in ADMIN_NOTES else "",
                )
            )
        return items, len(rows) > PAGE

    def minimum_minor(self, currency: str) -> int:
        return to_minor(str(self.minimum), currency)

    async def open_request(self, affiliate_id: int) -> PayoutRequest | None:
        return await PayoutRequest.get_or_none(affiliate_id=affiliate_id, status=PayoutStatus.OPEN)

    async def request_payout(self, affiliate: Affiliate, currency: str, details: str) -> Payout:
        """Take the whole available balance in `currency` out of the ledger into a request."""
        details = check_details(details)
        async with in_transaction():
            # Two taps at once: the row lock makes the second wait and then see the first.
            await Affiliate.select_for_update().get(id=affiliate.id)
            if await self.open_request(affiliate.id) is not None:
                raise Conflict(N_("You already have a payout request waiting for review."))
            balance = next(
                (b for b in await self.balances(affiliate.id) if b.currency == currency), None
            )
            amount = balance.available_minor if balance else 0
            if amount < self.minimum_minor(currency):
                raise InvalidInput(
                    N_("The minimum payout is {amount}."),
                    amount=format_money(self.minimum_minor(currency), currency),
                )
            request = await PayoutRequest.create(
                affiliate_id=affiliate.id,
                amount_minor=amount,
                currency=currency,
                details=details,
                status=PayoutStatus.OPEN,
            )
            await LedgerEntry.create(
                affiliate_id=affiliate.id,
                kind=LedgerKind.PAYOUT,
                amount_minor=-amount,
                currency=currency,
                key=f"p{request.id}:out",
                note=f"payout #{request.id}",
            )
        return self._view(request, affiliate)

    async def open_requests(self) -> list[Payout]:
        rows = (
            await PayoutRequest.filter(status=PayoutStatus.OPEN)
            .order_by("id")
            .select_related("affiliate")
        )
        return [self._view(r, r.affiliate) for r in rows]

    async def approved_unpaid(self) -> list[Payout]:
        """Approved requests whose transfer is not marked as made yet, oldest first."""
        rows = (
            await PayoutRequest.filter(status=PayoutStatus.APPROVED)
            .order_by("id")
            .select_related("affiliate")
        )
        return [self._view(r, r.affiliate) for r in rows]

    async def mark_paid(self, request_id: int, reference: str) -> Payout:
        """An approved request's money was sent: its reference is kept; once only."""
        if not reference:
            raise InvalidInput(N_("Give the transfer's reference, e.g. its transaction id."))
        request = await PayoutRequest.get_or_none(id=request_id).select_related("affiliate")
        if request is None:
            raise NotFound(N_("There is no payout request #{id}."), id=request_id)
        moved = await PayoutRequest.filter(id=request_id, status=PayoutStatus.APPROVED).update(
            status=PayoutStatus.PAID, reference=reference[:128], paid_at=self.clock()
        )
        if not moved:
            raise Conflict(
                N_("Payout request #{id} is not waiting to be paid (approve it first)."),
                id=request_id,
            )
        request.status, request.reference = PayoutStatus.PAID, reference[:128]
        return self._view(request, request.affiliate)

    async def decide(self, request_id: int, approve: bool, note: str = "") -> Payout:
        """Approve (the money has left) or reject (it returns to the balance), exactly once."""
        note = "".join(c for c in note if c.isprintable())
        async with in_transaction():
            request = await PayoutRequest.get_or_none(id=request_id).select_related("affiliate")
            if request is None:
                raise NotFound(N_("There is no payout request #{id}."), id=request_id)
            status = PayoutStatus.APPROVED if approve else PayoutStatus.REJECTED
            moved = await PayoutRequest.filter(id=request.id, status=PayoutStatus.OPEN).update(
                status=status, decided_at=self.clock(), note=note[:256]
            )
            if not moved:
                raise Conflict(N_("Payout request #{id} was already decided."), id=request_id)
            if not approve:
                await LedgerEntry.create(
                    affiliate_id=request.affiliate_id,
                    kind=LedgerKind.PAYOUT_RETURN,
                    amount_minor=request.amount_minor,
                    currency=request.currency,
                    key=f"p{request.id}:ret",
                    note=note[:256],
                )
            request.status, request.note = status, note[:256]
        return self._view(request, request.affiliate)

    async def check_adjustment(
        self, tg_id: int, amount: str, currency: str, note: str
    ) -> tuple[Affiliate, int]:
        """Who an adjustment is for and its signed amount in minor units, or why it cannot be
        made (before an admin is asked to confirm it, and again when it is made)."""
        affiliate = await Affiliate.get_or_none(tg_id=tg_id)
        if affiliate is None:
            raise NotFound(N_("No affiliate with Telegram id {id}."), id=tg_id)
        if has_control(note):
            raise InvalidInput(N_("A note is plain text on one line."))
        negative = amount.startswith("-")
        digits = amount[1:] if amount.startswith(("+", "-")) else amount
        return affiliate, to_minor(digits, currency) * (-1 if negative else 1)

    async def adjust(self, tg_id: int, amount: str, currency: str, note: str) -> Adjustment:
        """A manual correction by an admin: a signed amount, with a note (the reason the
        affiliate is told)."""
        affiliate, minor = await self.check_adjustment(tg_id, amount, currency, note)
        affiliate_id = affiliate.id
        entry = await LedgerEntry.create(
            affiliate_id=affiliate_id,
            kind=LedgerKind.ADJUSTMENT,
            amount_minor=minor,
            currency=currency,
            key=f"adj:{uuid.uuid4().hex}",
            note=note[:256],
        )
        after = next(
            (
                b.available_minor
                for b in await self.balances(affiliate_id)
                if b.currency == currency
            ),
            0,
        )
        return Adjustment(
            entry.id,
            affiliate_id,
            affiliate.tg_id,
            affiliate.display_name,
            affiliate.username,
            minor,
            currency,
            entry.note,
            after,
        )

    def view_of(self, request: PayoutRequest, affiliate: Affiliate) -> Payout:
        return self._view(request, affiliate)

    @staticmethod
    def _view(request: PayoutRequest, affiliate: Affiliate) -> Payout:
        return Payout(
            request.id,
            request.affiliate_id,
            affiliate.tg_id,
            request.amount_minor,
            request.currency,
            request.details,
            request.status,
            affiliate.display_name,
            affiliate.username,
            request.note or "",
            request.created_at,
            request.reference or "",
        )


def check_details(raw: str) -> str:
    """Payout details as stored: one line, 1-512 characters of text."""
    details = " ".join(raw.split())
    if not details or len(details) > DETAILS_MAX or has_control(details):
        raise InvalidInput(N_("Payout details are 1–{size} characters."), size=DETAILS_MAX)
    return details


def as_decimal(minor: int, currency: str) -> Decimal:
    return from_minor(minor, currency)
