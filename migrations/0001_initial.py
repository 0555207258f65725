from enum import StrEnum

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class OfferKind(StrEnum):
    """Frozen copy of models.offer.OfferKind as it was when this migration was written."""

    URL = "url"
    BOT = "bot"
    APP = "app"


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Affiliate",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("tg_id", fields.BigIntField(unique=True)),
                ("username", fields.CharField(null=True, max_length=64)),
                ("first_name", fields.CharField(default="", db_default="", max_length=128)),
                ("last_name", fields.CharField(null=True, max_length=128)),
                ("tg_language", fields.CharField(null=True, max_length=16)),
                ("language", fields.CharField(null=True, max_length=8)),
                ("is_banned", fields.BooleanField(default=False, db_default=False)),
                ("notify", fields.BooleanField(default=True, db_default=True)),
                (
                    "started_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "blocked_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "affiliate",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A Telegram user known to the bot. Every user can earn as an affiliate.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Offer",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("title", fields.CharField(max_length=128)),
                (
                    "kind",
                    fields.CharEnumField(
                        description="URL: url\nBOT: bot\nAPP: app",
                        enum_type=OfferKind,
                        max_length=8,
                    ),
                ),
                ("target_url", fields.CharField(null=True, max_length=2048)),
                ("payout_minor", fields.BigIntField(default=0, db_default=0)),
                ("currency", fields.CharField(default="USD", db_default="USD", max_length=3)),
                ("is_active", fields.BooleanField(default=True, db_default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "offer",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Something affiliates promote: a web page, this bot, or its Mini App.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Link",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("code", fields.CharField(unique=True, max_length=16)),
                (
                    "affiliate",
                    fields.ForeignKeyField(
                        "models.Affiliate",
                        source_field="affiliate_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "offer",
                    fields.ForeignKeyField(
                        "models.Offer",
                        source_field="offer_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="links",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "link",
                "app": "models",
                "unique_together": (("affiliate", "offer"),),
                "pk_attr": "id",
                "table_description": "An affiliate's referral code: their own bot link (offer is null) or one per offer.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Click",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("click_id", fields.CharField(unique=True, max_length=32)),
                (
                    "link",
                    fields.ForeignKeyField(
                        "models.Link",
                        source_field="link_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="clicks",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("sub", fields.CharField(null=True, max_length=32)),
                ("visitor", fields.CharField(max_length=32)),
                ("is_unique", fields.BooleanField()),
                ("is_bot", fields.BooleanField()),
                ("user_agent", fields.CharField(default="", db_default="", max_length=256)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "click",
                "app": "models",
                "indexes": [Index(fields=["link_id", "created_at"], name="click_link_time_idx")],
                "pk_attr": "id",
                "table_description": "One visit to /r/CODE. Its `click_id` is what the advertiser gets back in the URL.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Referral",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "referrer",
                    fields.ForeignKeyField(
                        "models.Affiliate",
                        source_field="referrer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="referrals",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "referred",
                    fields.OneToOneField(
                        "models.Affiliate",
                        source_field="referred_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="referred_by",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "link",
                    fields.ForeignKeyField(
                        "models.Link",
                        source_field="link_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="referrals",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("sub", fields.CharField(null=True, max_length=32)),
                (
                    "notified_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "referral",
                "app": "models",
                "indexes": [
                    Index(fields=["referrer_id", "created_at"], name="referral_referrer_time_idx")
                ],
                "pk_attr": "id",
                "table_description": "A Telegram user who first started the bot through an affiliate's link.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SubLink",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "affiliate",
                    fields.ForeignKeyField(
                        "models.Affiliate",
                        source_field="affiliate_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sublinks",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("label", fields.CharField(max_length=32)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "sublink",
                "app": "models",
                "unique_together": (("affiliate", "label"),),
                "pk_attr": "id",
                "table_description": 'A label an affiliate adds to split their traffic by source (e.g. "youtube").',
            },
            bases=["Model"],
        ),
    ]
