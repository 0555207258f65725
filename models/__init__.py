"""Tortoise models, the database's shape. Rules live in bot/services."""

from models.affiliate import Affiliate
from models.link import Link, SubLink
from models.money import (
    AffiliateRate,
    ChannelInvite,
    Conversion,
    ConversionStatus,
    LedgerEntry,
    LedgerKind,
    PayoutRequest,
    PayoutStatus,
)
from models.offer import Offer, OfferKind
from models.race import (
    Outbox,
    Race,
    RaceEntry,
    RaceMetric,
    RacePrize,
    RaceSnapshot,
    RaceStatus,
    TieBreak,
)
from models.tracking import Click, Referral

__all__ = [
    "Affiliate",
    "AffiliateRate",
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
    "Race",
    "RaceEntry",
    "RaceMetric",
    "RacePrize",
    "RaceSnapshot",
    "RaceStatus",
    "Referral",
    "SubLink",
    "TieBreak",
]
