from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Category(StrEnum):
    """News someone can turn off. Money (a payout decision, a prize, a balance adjustment) is
    not among them: it is always told."""

    REFERRALS = "ref"
    CONVERSIONS = "conv"
    RACE_NEWS = "race"
    ANNOUNCEMENTS = "news"
    ADMIN = "admin"  # admins: new payout requests, conversions held for review


class Affiliate(Model):
    """A Telegram user known to the bot. Every user can earn as an affiliate."""

    id = fields.IntField(primary_key=True)
    tg_id = fields.BigIntField(unique=True)
    username = fields.CharField(max_length=64, null=True)
    first_name = fields.CharField(max_length=128, default="", db_default="")
    last_name = fields.CharField(max_length=128, null=True)
    tg_language = fields.CharField(max_length=16, null=True)
    language = fields.CharField(max_length=8, null=True)
    is_banned = fields.BooleanField(default=False, db_default=False)
    ban_reason = fields.CharField(max_length=256, default="", db_default="")
    # Promoted by another admin; those in ADMIN_IDS are admins whatever this says.
    is_admin = fields.BooleanField(default=False, db_default=False)
    timezone = fields.CharField(max_length=64, default="UTC", db_default="UTC")
    notify = fields.BooleanField(default=True, db_default=True)  # superseded by `muted`
    muted = fields.CharField(max_length=64, default="", db_default="")  # Category values, ","
    started_at = fields.DatetimeField(null=True)
    seen_at = fields.DatetimeField(null=True)  # the last update from them (to the hour)
    blocked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "affiliate"

    def mutes(self, category: Category) -> bool:
        return category.value in self.muted.split(",")

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p).strip()
        if name:
            return name
        return f"@{self.username}" if self.username else f"#{self.tg_id}"
