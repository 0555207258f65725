from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.affiliate import Affiliate
    from models.offer import Offer


class Link(Model):
    """An affiliate's referral code: their own bot link (offer is null) or one per offer."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=16, unique=True)
    affiliate: fields.ForeignKeyRelation[Affiliate] = fields.ForeignKeyField(
        "models.Affiliate", related_name="links", on_delete=fields.CASCADE
    )
    offer: fields.ForeignKeyNullableRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="links", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    affiliate_id: int
    offer_id: int | None

    class Meta:
        table = "link"
        unique_together = (("affiliate", "offer"),)


class SubLink(Model):
    """A label an affiliate adds to split their traffic by source (e.g. "youtube")."""

    id = fields.IntField(primary_key=True)
    affiliate: fields.ForeignKeyRelation[Affiliate] = fields.ForeignKeyField(
        "models.Affiliate", related_name="sublinks", on_delete=fields.CASCADE
    )
    label = fields.CharField(max_length=32)
    created_at = fields.DatetimeField(auto_now_add=True)

    affiliate_id: int

    class Meta:
        table = "sublink"
        unique_together = (("affiliate", "label"),)
