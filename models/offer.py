from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OfferKind(StrEnum):
    URL = "url"
    BOT = "bot"
    APP = "app"
    CHANNEL = "channel"


class Offer(Model):
    """Something affiliates promote: a web page, this bot, or its Mini App."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=128)
    kind = fields.CharEnumField(OfferKind, max_length=8)
    target_url = fields.CharField(max_length=2048, null=True)
    payout_minor = fields.BigIntField(default=0, db_default=0)
    currency = fields.CharField(max_length=3, default="USD", db_default="USD")
    is_active = fields.BooleanField(default=True, db_default=True)
    # Commission: payout_minor per conversion (or per event in event_payouts) plus a share of
    # the sale amount in basis points (1250 = 12.5%), and a share of the affiliate's
    # commission for whoever referred them.
    event_payouts: fields.Field[dict[str, int] | None] = fields.JSONField(null=True)
    revshare_bp = fields.IntField(default=0, db_default=0)
    second_level_bp = fields.IntField(default=0, db_default=0)
    hold_days = fields.IntField(default=0, db_default=0)
    # Postbacks: HMAC secret (and the previous one during a rotation), or a fixed token.
    secret = fields.CharField(max_length=64, default="", db_default="")
    secret_previous = fields.CharField(max_length=64, null=True)
    token = fields.CharField(max_length=64, null=True)
    ip_allowlist = fields.CharField(max_length=1024, default="", db_default="")
    status_map: fields.Field[dict[str, str] | None] = fields.JSONField(null=True)
    channel_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "offer"
