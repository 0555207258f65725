"""Commissions and the ledger rows a conversion makes: earnings, the referrer's share, their
reversal. One home for the rules, used by the batch writer and by single status moves alike.

Money is integer minor units; every share is rounded half up, once, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from bot.services.sql import db_time, multi_insert
from models import AffiliateRate, LedgerEntry, LedgerKind, Offer, Referral

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


def share(amount_minor: int, basis_points: int) -> int:
    """`basis_points`/10000 of an amount, rounded half up."""
    return (amount_minor * basis_points + 5000) // 10000


def commission(offer: Offer, rate: AffiliateRate | None, event: str, amount_minor: int) -> int:
    """Fixed per event (or the offer's payout) plus the RevShare part; an affiliate's own rate
    overrides either."""
    fixed = offer.payout_minor
    if offer.event_payouts and event in offer.event_payouts:
        fixed = int(offer.event_payouts[event])
    share_bp = offer.revshare_bp
    if rate is not None:
        fixed = rate.payout_minor if rate.payout_minor is not None else fixed
        share_bp = rate.revshare_bp if rate.revshare_bp is not None else share_bp
    return fixed + share(max(amount_minor, 0), share_bp)


@dataclass(frozen=True, slots=True)
class Earned:
    """An approved conversion, as the ledger needs it."""

    conversion_id: int
    affiliate_id: int
    commission_minor: int
    currency: str
    second_level_bp: int  # the offer's share for whoever referred the affiliate


@dataclass(frozen=True, slots=True)
class LedgerRow:
    affiliate_id: int
    kind: LedgerKind
    amount_minor: int
    currency: str
    key: str  # unique: each movement happens once
    conversion_id: int | None


def credit_rows(earned: Earned, referrer_id: int | None) -> list[LedgerRow]:
    """The earning and, with a second level, the referrer's share of it."""
    rows = []
    if earned.commission_minor:
        rows.append(
            LedgerRow(
                earned.affiliate_id,
                LedgerKind.EARNING,
                earned.commission_minor,
                earned.currency,
                f"c{earned.conversion_id}:earn",
                earned.conversion_id,
            )
        )
    if referrer_id is not None and earned.second_level_bp and earned.commission_minor > 0:
        amount = share(earned.commission_minor, earned.second_level_bp)
        if amount:
            rows.append(
                LedgerRow(
                    referrer_id,
                    LedgerKind.REFERRAL_SHARE,
                    amount,
                    earned.currency,
                    f"c{earned.conversion_id}:ref",
                    earned.conversion_id,
                )
            )
    return rows


async def credit(conn: BaseDBAsyncClient, earned: Sequence[Earned], now: datetime) -> None:
    """Write the ledger rows of approved conversions in one statement (inside their
    transaction: `conn` is the transaction's connection)."""
    referred = [e.affiliate_id for e in earned if e.second_level_bp]
    referrers: dict[int, int] = {}
    if referred:
        referrers = dict(
            await Referral.filter(referred_id__in=referred)
            .using_db(conn)
            .values_list("referred_id", "referrer_id")
        )
    rows = [row for e in earned for row in credit_rows(e, referrers.get(e.affiliate_id))]
    if not rows:
        return
    at = db_time(conn, now)
    values: list[object] = []
    for row in rows:
        values += [
            row.affiliate_id,
            row.kind.value,
            row.amount_minor,
            row.currency,
            row.key,
            row.conversion_id,
            "",
            at,
        ]
    await conn.execute_query(multi_insert(conn, "ledger", LEDGER_COLUMNS, len(rows)), values)


async def claw_back(conversion_id: int) -> None:
    """Reverse every earning and share a conversion made (each reversal once, by its key)."""
    for entry in await LedgerEntry.filter(
        conversion_id=conversion_id,
        kind__in=[LedgerKind.EARNING, LedgerKind.REFERRAL_SHARE],
    ):
        await LedgerEntry.create(
            affiliate_id=entry.affiliate_id,
            kind=LedgerKind.REVERSAL,
            amount_minor=-entry.amount_minor,
            currency=entry.currency,
            key=f"{entry.key}:rev",
            conversion_id=conversion_id,
        )
