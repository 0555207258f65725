from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from models.affiliate import Affiliate
    from models.link import Link


class Click(Model):
    """One visit to /r/CODE. Its `click_id` is what the advertiser gets back in the URL."""

    id = fields.BigIntField(primary_key=True)
    click_id = fields.CharField(max_length=32, unique=True)
    link: fields.ForeignKeyRelation[Link] = fields.ForeignKeyField(
        "models.Link", related_name="clicks", on_delete=fields.CASCADE
    )
    sub = fields.CharField(max_length=32, null=True)
    visitor = fields.CharField(max_length=32)
    is_unique = fields.BooleanField()
    is_bot = fields.BooleanField()
    user_agent = fields.CharField(max_length=256, default="", db_default="")
    created_at = fields.DatetimeField()

    link_id: int

    class Meta:
        table = "click"
        indexes = (Index(fields=("link_id", "created_at"), name="click_link_time_idx"),)


class Referral(Model):
    """A Telegram user who first started the bot through an affiliate's link."""

    id = fields.IntField(primary_key=True)
    referrer: fields.ForeignKeyRelation[Affiliate] = fields.ForeignKeyField(
        "models.Affiliate", related_name="referrals", on_delete=fields.CASCADE
    )
    referred: fields.OneToOneRelation[Affiliate] = fields.OneToOneField(
        "models.Affiliate", related_name="referred_by", on_delete=fields.CASCADE
    )
    link: fields.ForeignKeyRelation[Link] = fields.ForeignKeyField(
        "models.Link", related_name="referrals", on_delete=fields.CASCADE
    )
    sub = fields.CharField(max_length=32, null=True)
    notified_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    referrer_id: int
    referred_id: int
    link_id: int

    class Meta:
        table = "referral"
        indexes = (Index(fields=("referrer_id", "created_at"), name="referral_referrer_time_idx"),)
