from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OfferKind(StrEnum):
    URL = "url"
    BOT = "bot"
    APP = "app"


class Offer(Model):
    """Something affiliates promote: a web page, this bot, or its Mini App."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=128)
    kind = fields.CharEnumField(OfferKind, max_length=8)
    target_url = fields.CharField(max_length=2048, null=True)
    payout_minor = fields.BigIntField(default=0, db_default=0)
    currency = fields.CharField(max_length=3, default="USD", db_default="USD")
    is_active = fields.BooleanField(default=True, db_default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "offer"
