"""Per-affiliate commission overrides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.affiliate import Affiliate
    from models.offer import Offer


class AffiliateRate(Model):
    """A per-affiliate override of an offer's commission."""

    id = fields.IntField(primary_key=True)
    affiliate: fields.ForeignKeyRelation[Affiliate] = fields.ForeignKeyField(
        "models.Affiliate", related_name="rates", on_delete=fields.CASCADE
    )
    offer: fields.ForeignKeyRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="rates", on_delete=fields.CASCADE
    )
    payout_minor = fields.BigIntField(null=True)
    revshare_bp = fields.IntField(null=True)

    class Meta:
        table = "affiliate_rate"
        unique_together = (("affiliate", "offer"),)
