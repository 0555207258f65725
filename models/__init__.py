"""Tortoise models, the database's shape; rules live in bot/services."""

from models.affiliate import Affiliate
from models.link import Link, SubLink
from models.offer import Offer, OfferKind
from models.tracking import Click, Referral

__all__ = ["Affiliate", "Click", "Link", "Offer", "OfferKind", "Referral", "SubLink"]
