import functools
from enum import StrEnum
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


# Frozen copies of the enums as they were when this migration was written.
class OfferKind(StrEnum):
    URL = "url"
    BOT = "bot"
    APP = "app"
    CHANNEL = "channel"


class ConversionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVERSED = "reversed"


class LedgerKind(StrEnum):
    EARNING = "earning"
    REVERSAL = "reversal"
    REFERRAL_SHARE = "referral_share"
    PAYOUT = "payout"
    PAYOUT_RETURN = "payout_return"
    ADJUSTMENT = "adjustment"
    PRIZE = "prize"


class PayoutStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AffiliateRate",
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
                        related_name="rates",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "offer",
                    fields.ForeignKeyField(
                        "models.Offer",
                        source_field="offer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="rates",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("payout_minor", fields.BigIntField(null=True)),
                ("revshare_bp", fields.IntField(null=True)),
            ],
            options={
                "table": "affiliate_rate",
                "app": "models",
                "unique_together": (("affiliate", "offer"),),
                "pk_attr": "id",
                "table_description": "A per-affiliate override of an offer's commission.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ChannelInvite",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "offer",
                    fields.ForeignKeyField(
                        "models.Offer",
                        source_field="offer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="invites",
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
                        related_name="invites",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("invite_link", fields.CharField(unique=True, max_length=128)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "channel_invite",
                "app": "models",
                "unique_together": (("offer", "link"),),
                "pk_attr": "id",
                "table_description": "The invite link the bot made for one affiliate in a channel offer.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Conversion",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "offer",
                    fields.ForeignKeyField(
                        "models.Offer",
                        source_field="offer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="conversions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "affiliate",
                    fields.ForeignKeyField(
                        "models.Affiliate",
                        source_field="affiliate_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="conversions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "link",
                    fields.ForeignKeyField(
                        "models.Link",
                        source_field="link_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="conversions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "click",
                    fields.ForeignKeyField(
                        "models.Click",
                        source_field="click_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="conversions",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("sub", fields.CharField(null=True, max_length=32)),
                ("txid", fields.CharField(max_length=128)),
                ("event", fields.CharField(max_length=32)),
                ("amount_minor", fields.BigIntField(default=0, db_default=0)),
                ("currency", fields.CharField(max_length=3)),
                ("commission_minor", fields.BigIntField(default=0, db_default=0)),
                (
                    "status",
                    fields.CharEnumField(
                        description="PENDING: pending\nAPPROVED: approved\nREJECTED: rejected\nREVERSED: reversed",
                        enum_type=ConversionStatus,
                        max_length=16,
                    ),
                ),
                ("review", fields.BooleanField(default=False, db_default=False)),
                ("review_reason", fields.CharField(null=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "decided_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "notified_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "conversion",
                "app": "models",
                "unique_together": (("offer", "txid"),),
                "indexes": [
                    Index(fields=["affiliate_id", "created_at"], name="conversion_aff_time_idx"),
                    Index(fields=["status", "created_at"], name="conversion_status_time_idx"),
                ],
                "pk_attr": "id",
                "table_description": "A referred person's action an advertiser reported (or a channel join we saw).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="LedgerEntry",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "affiliate",
                    fields.ForeignKeyField(
                        "models.Affiliate",
                        source_field="affiliate_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="ledger",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="EARNING: earning\nREVERSAL: reversal\nREFERRAL_SHARE: referral_share\nPAYOUT: payout\nPAYOUT_RETURN: payout_return\nADJUSTMENT: adjustment\nPRIZE: prize",
                        enum_type=LedgerKind,
                        max_length=16,
                    ),
                ),
                ("amount_minor", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                ("key", fields.CharField(unique=True, max_length=64)),
                (
                    "conversion",
                    fields.ForeignKeyField(
                        "models.Conversion",
                        source_field="conversion_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="ledger",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("note", fields.CharField(default="", db_default="", max_length=256)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "ledger",
                "app": "models",
                "indexes": [Index(fields=["affiliate_id", "id"], name="ledger_aff_idx")],
                "pk_attr": "id",
                "table_description": "Append-only money movements. A balance is their sum. `key` makes each one happen once.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PayoutRequest",
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
                        related_name="payouts",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("amount_minor", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                ("details", fields.CharField(max_length=512)),
                (
                    "status",
                    fields.CharEnumField(
                        description="OPEN: open\nAPPROVED: approved\nREJECTED: rejected",
                        enum_type=PayoutStatus,
                        max_length=16,
                    ),
                ),
                ("note", fields.CharField(default="", db_default="", max_length=256)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "decided_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "payout_request",
                "app": "models",
                "pk_attr": "id",
                "table_description": "An affiliate asking to be paid. The amount leaves the balance until an admin decides.",
            },
            bases=["Model"],
        ),
        ops.AlterField(
            model_name="Offer",
            name="kind",
            field=fields.CharEnumField(
                description="URL: url\nBOT: bot\nAPP: app\nCHANNEL: channel",
                enum_type=OfferKind,
                max_length=8,
            ),
        ),
        ops.AddField(
            model_name="Offer",
            name="channel_id",
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name="Offer",
            name="event_payouts",
            field=fields.JSONField(
                null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
            ),
        ),
        ops.AddField(
            model_name="Offer",
            name="hold_days",
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="Offer",
            name="ip_allowlist",
            field=fields.CharField(default="", db_default="", max_length=1024),
        ),
        ops.AddField(
            model_name="Offer",
            name="revshare_bp",
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="Offer",
            name="second_level_bp",
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="Offer",
            name="secret",
            field=fields.CharField(default="", db_default="", max_length=64),
        ),
        ops.AddField(
            model_name="Offer",
            name="secret_previous",
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name="Offer",
            name="status_map",
            field=fields.JSONField(
                null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
            ),
        ),
        ops.AddField(
            model_name="Offer",
            name="token",
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
