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
        # No index covers a column that a score move or a tick writes (score, reached_at,
        # best_rank), so PostgreSQL can make both HOT updates, which write no index at all:
        # ranks come from the Redis board, final places are computed once at the end, and
        # what the board has not seen yet is kept in RaceMark, not in a flag here.


class RaceMark(Model):
    """An entry whose score the Redis board has not seen yet, with what the board needs of it:
    written in the transaction that moves the score, claimed (deleted) by the tick that copies
    it into the board, which so reads no row of race_entry. A claim that fails before its
    commit leaves the mark for the next tick."""

    entry_id = fields.BigIntField(primary_key=True, generated=False)
    race_id = fields.IntField(db_index=True)
    affiliate_id = fields.IntField()
    score = fields.BigIntField()
    reached_at = fields.DatetimeField()
    best_rank = fields.IntField(null=True)  # as the entry had it when marked

    class Meta:
        table = "race_mark"


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
