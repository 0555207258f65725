"""Conversions: what referred people did, as advertisers reported it (or a channel join)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from models.affiliate import Affiliate
    from models.link import Link
    from models.offer import Offer
    from models.tracking import Click

JOIN_EVENT = "join"  # the event of a conversion that is a channel join


class ConversionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVERSED = "reversed"


class Conversion(Model):
    """A referred person's action an advertiser reported (or a channel join we saw)."""

    id = fields.BigIntField(primary_key=True)
    offer: fields.ForeignKeyRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="conversions", on_delete=fields.RESTRICT
    )
    affiliate: fields.ForeignKeyRelation[Affiliate] = fields.ForeignKeyField(
        "models.Affiliate", related_name="conversions", on_delete=fields.RESTRICT
    )
    link: fields.ForeignKeyRelation[Link] = fields.ForeignKeyField(
        "models.Link", related_name="conversions", on_delete=fields.RESTRICT
    )
    click: fields.ForeignKeyNullableRelation[Click] = fields.ForeignKeyField(
        "models.Click", related_name="conversions", null=True, on_delete=fields.SET_NULL
    )
    sub = fields.CharField(max_length=32, null=True)
    txid = fields.CharField(max_length=128)
    event = fields.CharField(max_length=32)
    amount_minor = fields.BigIntField(default=0, db_default=0)
    currency = fields.CharField(max_length=3)
    commission_minor = fields.BigIntField(default=0, db_default=0)
    status = fields.CharEnumField(ConversionStatus, max_length=16)
    review = fields.BooleanField(default=False, db_default=False)
    review_reason = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    notified_at = fields.DatetimeField(null=True)

    offer_id: int
    affiliate_id: int
    link_id: int
    click_id: int | None

    class Meta:
        table = "conversion"
        unique_together = (("offer", "txid"),)
        indexes = (
            Index(fields=("affiliate_id", "created_at"), name="conversion_aff_time_idx"),
            Index(fields=("status", "created_at"), name="conversion_status_time_idx"),
        )
