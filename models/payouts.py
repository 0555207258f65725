"""Payout requests."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.affiliate import Affiliate


class PayoutStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"  # approved, and the money sent (with the admin's reference)


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
    reference = fields.CharField(max_length=128, default="", db_default="")
    paid_at = fields.DatetimeField(null=True)

    affiliate_id: int

    class Meta:
        table = "payout_request"
