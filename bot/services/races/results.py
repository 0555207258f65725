"""The end of a race: frozen, everyone's final place stored once with the declared tie-break,
prizes credited exactly once, results read back from what was stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from bot.services.sql import placeholders
from models import LedgerEntry, LedgerKind, Race, RaceEntry, RacePrize, RaceStatus, TieBreak


@dataclass(frozen=True, slots=True)
class Placing:
    """A prize winner: place, final score and what they won."""

    affiliate_id: int
    place: int
    score: int
    prize_minor: int
    prize_text: str


@dataclass(frozen=True, slots=True)
class FinalResult:
    """One participant's outcome, as stored when the race was finalised."""

    affiliate_id: int
    place: int
    score: int
    prize_minor: int
    prize_text: str


# The one rule for places: by final score, then who reached it first, then who entered
# first. With the split tie-break, equal scores share the place of the first of them (RANK);
# otherwise every participant has a place of their own (ROW_NUMBER).
PLACES_SQL = (
    "UPDATE race_entry SET final_place = ranked.place FROM ("
    "SELECT id, {place} AS place FROM race_entry WHERE race_id = {p1}) AS ranked "
    "WHERE race_entry.id = ranked.id"
)
SHARED_PLACE = "RANK() OVER (ORDER BY score DESC)"
OWN_PLACE = "ROW_NUMBER() OVER (ORDER BY score DESC, reached_at, id)"


async def store_places(conn: BaseDBAsyncClient, race: Race) -> None:
    place = SHARED_PLACE if race.tie_break is TieBreak.SPLIT else OWN_PLACE
    sql = PLACES_SQL.format(place=place, **placeholders(conn, 1))
    await conn.execute_query(sql, [race.id])


def award(prizes: dict[int, RacePrize], ranked: list[tuple[int, int, int]]) -> list[Placing]:
    """Prizes for the qualifying participants, (affiliate, place, score) in place order: a
    group sharing a place shares the prizes of the places it covers (money split evenly, the
    remainder to the first of them; texts joined)."""
    placings: list[Placing] = []
    for place, group_rows in groupby(ranked, key=lambda row: row[1]):
        group = list(group_rows)
        covered = range(place, place + len(group))
        if place > max(prizes, default=0):
            break
        pot = sum(prizes[p].amount_minor for p in covered if p in prizes)
        texts = [prizes[p].text for p in covered if p in prizes and prizes[p].text]
        share, rest = divmod(pot, len(group))
        text = " / ".join(texts) if len(group) > 1 else (texts[0] if texts else "")
        placings += [
            Placing(aff, place, score, share + (1 if i < rest else 0), text)
            for i, (aff, _, score) in enumerate(group)
        ]
    return placings


class Results:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock

    async def finalise(self, race_id: int) -> list[Placing] | None:
        """Freeze the race, store every final place and the prizes, credit money prizes, all
        in one transaction.

        The status move running -> finished is the guard: of two finalisers (two schedulers,
        a restart) only one gets it; ledger keys make a credit happen once even so.
        """
        async with in_transaction() as conn:
            moved = await Race.filter(id=race_id, status=RaceStatus.RUNNING).update(
                status=RaceStatus.FINISHED, finished_at=self.clock()
            )
            if not moved:
                return None
            race = await Race.get(id=race_id)
            await store_places(conn, race)
            placings = await self._placings(race)
            for p in placings:
                await RaceEntry.filter(race_id=race.id, affiliate_id=p.affiliate_id).update(
                    prize_minor=p.prize_minor, prize_text=p.prize_text[:512]
                )
                if p.prize_minor:
                    await LedgerEntry.create(
                        affiliate_id=p.affiliate_id,
                        kind=LedgerKind.PRIZE,
                        amount_minor=p.prize_minor,
                        currency=race.currency,
                        key=f"race{race.id}:prize:{p.affiliate_id}",
                        note=f"{race.title[:200]} #{p.place}",
                    )
        return placings

    @staticmethod
    async def _placings(race: Race) -> list[Placing]:
        prizes = {p.place: p for p in await RacePrize.filter(race_id=race.id)}
        if not prizes:
            return []
        rows = (
            await RaceEntry.filter(
                race_id=race.id,
                score__gte=max(race.min_score, 1),
                final_place__lte=max(prizes),
            )
            .order_by("final_place", "reached_at", "id")
            .values_list("affiliate_id", "final_place", "score")
        )
        return award(prizes, [(int(a), int(p), int(s)) for a, p, s in rows])

    @staticmethod
    async def mine(race: Race, affiliate_id: int) -> FinalResult | None:
        """One participant's stored outcome (None: they had no place in it)."""
        entry = await RaceEntry.get_or_none(
            race_id=race.id, affiliate_id=affiliate_id, final_place__isnull=False
        )
        return None if entry is None else Results.of(entry)

    @staticmethod
    def of(entry: RaceEntry) -> FinalResult | None:
        """An entry's stored outcome (None: it had no place)."""
        if entry.final_place is None:
            return None
        return FinalResult(
            entry.affiliate_id,
            entry.final_place,
            entry.score,
            entry.prize_minor or 0,
            entry.prize_text or "",
        )

    @staticmethod
    async def final(race: Race, after: int = 0, limit: int = 1000) -> list[FinalResult]:
        """Everyone's stored outcome in place order, a page at a time (`after` rows skipped)."""
        rows = (
            await RaceEntry.filter(race_id=race.id, final_place__isnull=False)
            .order_by("final_place", "reached_at", "id")
            .offset(after)
            .limit(limit)
            .values_list("affiliate_id", "final_place", "score", "prize_minor", "prize_text")
        )
        return [
            FinalResult(int(a), int(p), int(s), int(m or 0), t or "") for a, p, s, m, t in rows
        ]
