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


class LedgerKind(StrEnum):
    EARNING = "earning"
    REVERSAL = "reversal"
    REFERRAL_SHARE = "referral_share"
    PAYOUT = "payout"
    PAYOUT_RETURN = "payout_return"
    ADJUSTMENT = "adjustment"
    PRIZE = "prize"


class LedgerEntry(Model):
    """Append-only money movements. A balance is their sum. `key` makes each one happen once."""

    id = fields.BigIntField(primary_key=True)
    affiliate: fields.ForeignKeyRelation[Affiliate] = fields.ForeignKeyField(
        "models.Affiliate", related_name="ledger", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(LedgerKind, max_length=16)
    amount_minor = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    key = fields.CharField(max_length=64, unique=True)
    conversion: fields.ForeignKeyNullableRelation[Conversion] = fields.ForeignKeyField(
        "models.Conversion", related_name="ledger", null=True, on_delete=fields.RESTRICT
    )
    note = fields.CharField(max_length=256, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    affiliate_id: int
    conversion_id: int | None

    class Meta:
        table = "ledger"
        indexes = (Index(fields=("affiliate_id", "id"), name="ledger_aff_idx"),)


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


class PayoutStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


class PayoutRequest(Model):
    """An affiliate asking to be paid. The amount leaves the balance until an admin decides."""

    id = fields.IntField(primary_key=True)
    affiliate: fields.ForeignKeyRelation[Affiliate] = fields.ForeignKeyField(
        "models.Affiliate", related_name="payouts", on_delete=fields.RESTRICT
    )
    amount_minor = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    details = fields.CharField(max_length=512)
    status = fields.CharEnumField(PayoutStatus, max_length=16)
    note = fields.CharField(max_length=256, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)

    affiliate_id: int

    class Meta:
        table = "payout_request"


class ChannelInvite(Model):
    """The invite link the bot made for one affiliate in a channel offer."""

    id = fields.IntField(primary_key=True)
    offer: fields.ForeignKeyRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="invites", on_delete=fields.CASCADE
    )
    link: fields.ForeignKeyRelation[Link] = fields.ForeignKeyField(
        "models.Link", related_name="invites", on_delete=fields.CASCADE
    )
    invite_link = fields.CharField(max_length=128, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    offer_id: int
    link_id: int

    class Meta:
        table = "channel_invite"
        unique_together = (("offer", "link"),)
