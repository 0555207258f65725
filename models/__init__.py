"""Tortoise models, the database's shape, a file for what each holds. Rules live in
bot/services."""

from models.affiliate import Affiliate, Category
from models.audit import AuditEntry, PostbackLog
from models.conversions import JOIN_EVENT, Conversion, ConversionStatus
from models.invites import ChannelInvite
from models.ledger import LedgerEntry, LedgerKind
from models.link import Link, SubLink
from models.offer import Offer, OfferKind
from models.outbox import Broadcast, BroadcastStatus, Outbox
from models.payouts import PayoutRequest, PayoutStatus
from models.races import (
    Race,
    RaceEntry,
    RaceMark,
    RaceMetric,
    RacePrize,
    RaceSnapshot,
    RaceStatus,
    TieBreak,
)
from models.rates import AffiliateRate
from models.tracking import Click, Referral

__all__ = [
    "JOIN_EVENT",
    "Affiliate",
    "AffiliateRate",
    "AuditEntry",
    "Broadcast",
    "BroadcastStatus",
    "Category",
    "ChannelInvite",
    "Click",
    "Conversion",
    "ConversionStatus",
    "LedgerEntry",
    "LedgerKind",
    "Link",
    "Offer",
    "OfferKind",
    "Outbox",
    "PayoutRequest",
    "PayoutStatus",
    "PostbackLog",
    "Race",
    "RaceEntry",
    "RaceMark",
    "RaceMetric",
    "RacePrize",
    "RaceSnapshot",
    "RaceStatus",
    "Referral",
    "SubLink",
    "TieBreak",
]
