from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from models.affiliate import Affiliate
    from models.offer import Offer


class RaceMetric(StrEnum):
    CLICKS = "clicks"
    REFERRALS = "referrals"
    CONVERSIONS = "conversions"
    REVENUE = "revenue"
    COMMISSION = "commission"
    JOINS = "joins"

    @property
    def is_money(self) -> bool:
        """Scored in minor units of the race's currency, not counted."""
        return self in (RaceMetric.REVENUE, RaceMetric.COMMISSION)


class RaceStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class TieBreak(StrEnum):
    FIRST = "first"
    SPLIT = "split"


class Race(Model):
    """A time-boxed contest: who scores most on one metric between start and end wins prizes."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=128)
    description = fields.CharField(max_length=1024, default="", db_default="")
    metric = fields.CharEnumField(RaceMetric, max_length=16)
    offer: fields.ForeignKeyNullableRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="races", null=True, on_delete=fields.RESTRICT
    )
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    status = fields.CharEnumField(RaceStatus, max_length=16)
    min_score = fields.BigIntField(default=0, db_default=0)
    opt_in = fields.BooleanField(default=False, db_default=False)
    tie_break = fields.CharEnumField(TieBreak, max_length=8, default=TieBreak.FIRST)
    mask_names = fields.BooleanField(default=False, db_default=False)
    currency = fields.CharField(max_length=3, default="USD", db_default="USD")
    announce_chat_id = fields.BigIntField(null=True)
    announce_message_id = fields.BigIntField(null=True)
    reminded_24h = fields.BooleanField(default=False, db_default=False)
    reminded_1h = fields.BooleanField(default=False, db_default=False)
    results_sent = fields.BooleanField(default=False, db_default=False)
    last_snapshot: fields.Field[Any] = fields.JSONField(null=True)
    created_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    offer_id: int | None

    class Meta:
        table = "race"
        indexes = (Index(fields=("status", "ends_at"), name="race_status_end_idx"),)


class RacePrize(Model):
    """Place -> prize text and/or money credited to the balance."""

    id = fields.IntField(primary_key=True)
    race: fields.ForeignKeyRelation[Race] = fields.ForeignKeyField(
        "models.Race", related_name="prizes", on_delete=fields.CASCADE
    )
    place = fields.IntField()
    text = fields.CharField(max_length=128, default="", db_default="")
    amount_minor = fields.BigIntField(default=0, db_default=0)

    race_id: int

    class Meta:
        table = "race_prize"
        unique_together = (("race", "place"),)


class RaceEntry(Model):
    """One affiliate in one race: final (approved) and provisional (pending) points."""

    id = fields.BigIntField(primary_key=True)
    race: fields.ForeignKeyRelation[Race] = fields.ForeignKeyField(
        "models.Race", related_name="entries", on_delete=fields.CASCADE
    )
    affiliate: fields.ForeignKeyRelation[Affiliate] = fields.ForeignKeyField(
        "models.Affiliate", related_name="race_entries", on_delete=fields.CASCADE
    )
    score = fields.BigIntField(default=0, db_default=0)
    provisional = fields.BigIntField(default=0, db_default=0)
    reached_at = fields.DatetimeField()
    dirty = fields.BooleanField(default=True, db_default=True)  # Redis has not seen this score
    best_rank = fields.IntField(null=True)
    final_place = fields.IntField(null=True)
    prize_minor = fields.BigIntField(null=True)
    prize_text = fields.CharField(max_length=512, default="", db_default="")
    joined_at = fields.DatetimeField(auto_now_add=True)

    race_id: int
    affiliate_id: int

    class Meta:
        table = "race_entry"
        unique_together = (("race", "affiliate"),)
        # Every index here is written again by each score move and each tick's claim of a
        # dirty flag (neither can be a HOT update): no index on score, since ranks come from
        # the Redis board and final places are computed once, over all entries, at the end.
        indexes = (Index(fields=("race_id", "dirty"), name="race_entry_dirty_idx"),)


class RaceSnapshot(Model):
    """The standings at one tick (the top of the table), kept for history and news."""

    id = fields.BigIntField(primary_key=True)
    race: fields.ForeignKeyRelation[Race] = fields.ForeignKeyField(
        "models.Race", related_name="snapshots", on_delete=fields.CASCADE
    )
    taken_at = fields.DatetimeField()
    participants = fields.IntField()
    top: fields.Field[Any] = fields.JSONField()

    race_id: int

    class Meta:
        table = "race_snapshot"
