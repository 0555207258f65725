"""The ledger: append-only money movements; a balance is their sum."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from models.affiliate import Affiliate
    from models.conversions import Conversion


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
