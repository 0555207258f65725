import functools
from enum import StrEnum
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


# Frozen copies of the enums as they were when this migration was written.
class RaceMetric(StrEnum):
    CLICKS = "clicks"
    REFERRALS = "referrals"
    CONVERSIONS = "conversions"
    REVENUE = "revenue"
    COMMISSION = "commission"
    JOINS = "joins"


class RaceStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class TieBreak(StrEnum):
    FIRST = "first"
    SPLIT = "split"


class Migration(migrations.Migration):
    dependencies = [("models", "0002_conversions_ledger")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Outbox",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("chat_id", fields.BigIntField()),
                ("text", fields.TextField(unique=False)),
                ("key", fields.CharField(unique=True, max_length=128)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("attempts", fields.IntField(default=0, db_default=0)),
                ("error", fields.CharField(null=True, max_length=256)),
            ],
            options={
                "table": "outbox",
                "app": "models",
                "indexes": [Index(fields=["sent_at", "id"], name="outbox_pending_idx")],
                "pk_attr": "id",
                "table_description": "A message waiting to be sent in bulk, paced under Telegram's limits. `key` dedups.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Race",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("title", fields.CharField(max_length=128)),
                ("description", fields.CharField(default="", db_default="", max_length=1024)),
                (
                    "metric",
                    fields.CharEnumField(
                        description="CLICKS: clicks\nREFERRALS: referrals\nCONVERSIONS: conversions\nREVENUE: revenue\nCOMMISSION: commission\nJOINS: joins",
                        enum_type=RaceMetric,
                        max_length=16,
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
                        related_name="races",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("starts_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("ends_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "status",
                    fields.CharEnumField(
                        description="DRAFT: draft\nSCHEDULED: scheduled\nRUNNING: running\nFINISHED: finished\nCANCELLED: cancelled",
                        enum_type=RaceStatus,
                        max_length=16,
                    ),
                ),
                ("min_score", fields.BigIntField(default=0, db_default=0)),
                ("opt_in", fields.BooleanField(default=False, db_default=False)),
                (
                    "tie_break",
                    fields.CharEnumField(
                        default=TieBreak.FIRST,
                        description="FIRST: first\nSPLIT: split",
                        enum_type=TieBreak,
                        max_length=8,
                    ),
                ),
                ("mask_names", fields.BooleanField(default=False, db_default=False)),
                ("currency", fields.CharField(default="USD", db_default="USD", max_length=3)),
                ("announce_chat_id", fields.BigIntField(null=True)),
                ("announce_message_id", fields.BigIntField(null=True)),
                ("reminded_24h", fields.BooleanField(default=False, db_default=False)),
                ("reminded_1h", fields.BooleanField(default=False, db_default=False)),
                ("results_sent", fields.BooleanField(default=False, db_default=False)),
                (
                    "last_snapshot",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("created_by", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "race",
                "app": "models",
                "indexes": [Index(fields=["status", "ends_at"], name="race_status_end_idx")],
                "pk_attr": "id",
                "table_description": "A time-boxed contest: who scores most on one metric between start and end wins prizes.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RaceEntry",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "race",
                    fields.ForeignKeyField(
                        "models.Race",
                        source_field="race_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "affiliate",
                    fields.ForeignKeyField(
                        "models.Affiliate",
                        source_field="affiliate_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="race_entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("score", fields.BigIntField(default=0, db_default=0)),
                ("provisional", fields.BigIntField(default=0, db_default=0)),
                ("reached_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("dirty", fields.BooleanField(default=True, db_default=True)),
                ("best_rank", fields.IntField(null=True)),
                ("final_place", fields.IntField(null=True)),
                ("prize_minor", fields.BigIntField(null=True)),
                ("joined_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "race_entry",
                "app": "models",
                "unique_together": (("race", "affiliate"),),
                "indexes": [
                    Index(fields=["race_id", "score"], name="race_entry_score_idx"),
                    Index(fields=["race_id", "dirty"], name="race_entry_dirty_idx"),
                ],
                "pk_attr": "id",
                "table_description": "One affiliate in one race: final (approved) and provisional (pending) points.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RacePrize",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "race",
                    fields.ForeignKeyField(
                        "models.Race",
                        source_field="race_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="prizes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("place", fields.IntField()),
                ("text", fields.CharField(default="", db_default="", max_length=128)),
                ("amount_minor", fields.BigIntField(default=0, db_default=0)),
            ],
            options={
                "table": "race_prize",
                "app": "models",
                "unique_together": (("race", "place"),),
                "pk_attr": "id",
                "table_description": "Place -> prize text and/or money credited to the balance.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RaceSnapshot",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "race",
                    fields.ForeignKeyField(
                        "models.Race",
                        source_field="race_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="snapshots",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("taken_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("participants", fields.IntField()),
                (
                    "top",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
            ],
            options={
                "table": "race_snapshot",
                "app": "models",
                "pk_attr": "id",
                "table_description": "The standings at one tick (the top of the table), kept for history and news.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Affiliate",
            name="timezone",
            field=fields.CharField(default="UTC", db_default="UTC", max_length=64),
        ),
    ]
