"""Balances (sums over the append-only ledger), history, and payout requests."""

from __future__ import annotations

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

    async def history(self, affiliate_id: int, page: int = 0) -> tuple[list[LedgerEntry], bool]:
        rows = (
            await LedgerEntry.filter(affiliate_id=affiliate_id)
            .order_by("-id")
            .offset(page * PAGE)
            .limit(PAGE + 1)
        )
        return rows[:PAGE], len(rows) > PAGE

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

    async def adjust(self, tg_id: int, amount: str, currency: str, note: str) -> Adjustment:
        """A manual correction by an admin: a signed amount, with a note (the reason the
        affiliate is told)."""
        affiliate = await Affiliate.get_or_none(tg_id=tg_id)
        if affiliate is None:
            raise NotFound(N_("No affiliate with Telegram id {id}."), id=tg_id)
        affiliate_id = affiliate.id
        if has_control(note):
            raise InvalidInput(N_("A note is plain text on one line."))
        negative = amount.startswith("-")
        digits = amount[1:] if amount.startswith(("+", "-")) else amount
        minor = to_minor(digits, currency) * (-1 if negative else 1)
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
        )


def check_details(raw: str) -> str:
    """Payout details as stored: one line, 1-512 characters of text."""
    details = " ".join(raw.split())
    if not details or len(details) > DETAILS_MAX or has_control(details):
        raise InvalidInput(N_("Payout details are 1–{size} characters."), size=DETAILS_MAX)
    return details


def as_decimal(minor: int, currency: str) -> Decimal:
    return from_minor(minor, currency)
