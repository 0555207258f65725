"""A race's tick: scores copied into the board, the top snapshotted, and what each affiliate
should hear found (at most one item each); the reminders before the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.services.races.board import Board, Moved, Standing
from bot.services.sql import connection, is_postgres
from models import Race, RaceEntry, RacePrize, RaceSnapshot, RaceStatus

TOP = 10  # shown on cards and the channel
WATCH = 50  # how deep the tick looks for overtaking news
BEST_CHUNK = 5000  # changed affiliates per round of ZREVRANKs, read and write

# One statement per chunk, two arrays as its parameters: tortoise's bulk_update sends
# `SET best_rank = CASE id WHEN … END` per 1,000 rows, which PostgreSQL evaluates branch by
# branch for every row (seconds at 10,000 changed entries).
# Only a rank better than the stored one is written: the best rank a mark holds may be older
# than the entry's (a tick wrote it after the mark was made).
PG_BEST_RANKS = (
    "UPDATE race_entry AS e SET best_rank = v.rank "
    "FROM unnest($1::bigint[], $2::int[]) AS v(id, rank) "
    "WHERE e.id = v.id AND (e.best_rank IS NULL OR e.best_rank > v.rank) RETURNING e.id"
)


class NewsKind(StrEnum):
    ENTERED_ZONE = "entered_zone"
    LEFT_ZONE = "left_zone"
    OVERTAKEN = "overtaken"
    BEST_RANK = "best_rank"


class Reminder(StrEnum):
    DAY = "24h"
    HOUR = "1h"


@dataclass(frozen=True, slots=True)
class News:
    """What one affiliate should hear after a tick."""

    affiliate_id: int
    kind: NewsKind
    rank: int


@dataclass
class TickResult:
    race: Race
    participants: int
    top: list[Standing]
    news: list[News] = field(default_factory=list)
    snapshot_id: int = 0
    changed: int = 0  # how many participants' scores moved in this tick


REMINDERS = (
    (Reminder.HOUR, timedelta(hours=1), "reminded_1h"),
    (Reminder.DAY, timedelta(hours=24), "reminded_24h"),
)


class Ticks:
    def __init__(self, board: Board, clock: Callable[[], datetime]) -> None:
        self.board = board
        self.clock = clock

    async def tick(self, race: Race) -> TickResult:
        """Sync scores, snapshot the top, and find who should hear what (one item each)."""
        moved = await self.board.sync(race)
        top = await self.board.top(race, 0, WATCH)
        participants = await self.board.participants(race)
        prize_places = await RacePrize.filter(race_id=race.id).count()
        before = {int(a): i + 1 for i, a in enumerate((race.last_snapshot or {}).get("ids", []))}
        now_ranks = {s.affiliate_id: s.rank for s in top}
        news: dict[int, News] = {}
        for aff, old in before.items():
            new = now_ranks.get(aff, WATCH + 1)
            if prize_places and old <= prize_places < new:
                news[aff] = News(aff, NewsKind.LEFT_ZONE, new)
            elif new > old:
                news[aff] = News(aff, NewsKind.OVERTAKEN, new)
        for aff, new in now_ranks.items():
            old = before.get(aff, WATCH + 1)
            if prize_places and new <= prize_places < old:
                news[aff] = News(aff, NewsKind.ENTERED_ZONE, new)
        if moved:
            await self._best_ranks(race, moved, news)
        taken = await RaceSnapshot.create(
            race=race,
            taken_at=self.clock(),
            participants=participants,
            top=[[s.affiliate_id, s.score] for s in top],
        )
        race.last_snapshot = {"ids": [s.affiliate_id for s in top]}
        await race.save(update_fields=["last_snapshot"])
        return TickResult(race, participants, top[:TOP], list(news.values()), taken.id, len(moved))

    async def _best_ranks(self, race: Race, moved: list[Moved], news: dict[int, News]) -> None:
        """Record new best ranks (one batched update) and tell those who beat an earlier best."""
        for start in range(0, len(moved), BEST_CHUNK):
            chunk = moved[start : start + BEST_CHUNK]
            ranks = await self.board.ranks(race, [m.affiliate_id for m in chunk])
            improved: dict[int, tuple[Moved, int]] = {}  # entry id: (entry, new best rank)
            for entry, rank in zip(chunk, ranks, strict=True):
                if rank is not None and (entry.best_rank is None or rank < entry.best_rank):
                    improved[entry.entry_id] = (entry, rank)
            if not improved:
                continue
            written = await _write_best_ranks([(pk, rank) for pk, (_, rank) in improved.items()])
            for pk in written:
                entry, rank = improved[pk]
                if entry.affiliate_id not in news and entry.best_rank is not None:
                    news[entry.affiliate_id] = News(entry.affiliate_id, NewsKind.BEST_RANK, rank)

    async def due_reminders(self) -> list[tuple[Race, Reminder]]:
        """Races that should remind their participants now, once each."""
        now = self.clock()
        due = []
        for race in await Race.filter(status=RaceStatus.RUNNING):
            left = race.ends_at - now
            for label, span, flag in REMINDERS:
                if timedelta(0) < left <= span and not getattr(race, flag):
                    if await Race.filter(id=race.id, **{flag: False}).update(**{flag: True}):
                        # A race shorter than the span never ran "24 h before the end".
                        if race.starts_at <= race.ends_at - span:
                            due.append((race, label))
                        if label is Reminder.HOUR:  # a 24 h reminder that late is pointless
                            await Race.filter(id=race.id).update(reminded_24h=True)
                    break
        return due


async def _write_best_ranks(improved: list[tuple[int, int]]) -> list[int]:
    """Store (entry id, best rank) pairs where the rank beats the stored one; returns the ids
    written. One UPDATE … FROM unnest on PostgreSQL; on SQLite, where it is quick enough, the
    stored ranks are read and the ORM's batched update writes the better ones."""
    conn = connection()
    if is_postgres(conn):
        ids, ranks = zip(*improved, strict=True)
        rows = await conn.execute_query_dict(PG_BEST_RANKS, [list(ids), list(ranks)])
        return [row["id"] for row in rows]
    stored = dict(
        await RaceEntry.filter(id__in=[pk for pk, _ in improved]).values_list("id", "best_rank")
    )
    better = [
        RaceEntry(id=pk, best_rank=rank)
        for pk, rank in improved
        if pk in stored and (stored[pk] is None or rank < stored[pk])
    ]
    if better:
        await RaceEntry.bulk_update(better, fields=["best_rank"], batch_size=1000)
    return [entry.id for entry in better]
