"""Race scores move as events land: a click, a referral, a conversion changes the entry of
every race whose window holds it, in the event's own transaction, and marks it (RaceMark)
for the next tick to copy into the board."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.services.cache import TtlCache
from bot.services.races.marks import move
from models import Race, RaceEntry, RaceMetric, RaceStatus

LIVE_TTL = 5.0


@dataclass(frozen=True, slots=True)
class ScoreEvent:
    """Something that moves scores: who, for which offer, when, and by how much."""

    metric: RaceMetric
    affiliate_id: int
    offer_id: int | None
    at: datetime
    final: int = 0
    provisional: int = 0
    currency: str | None = None  # for revenue and commission: counted in the race's currency


class Scoring:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._live: TtlCache[str, list[Race]] = TtlCache(LIVE_TTL, 1)

    def forget(self) -> None:
        """Races were created, started, cancelled or finished: read them again."""
        self._live.clear()

    async def live(self) -> list[Race]:
        """Running and scheduled races, cached for a few seconds: clicks must not pay a query
        each. Scheduled ones are there because a race counts from its start time, not from
        the tick that marks it running (up to RACE_TICK_SECONDS later); apply() checks the
        window, and the start builds the board from the entries already scored."""
        found, races = self._live.get("live")
        if not found or races is None:
            races = await Race.filter(status__in=[RaceStatus.SCHEDULED, RaceStatus.RUNNING])
            self._live.put("live", races)
        return races

    async def counts(self, metric: RaceMetric) -> bool:
        """Whether a race scores this metric now (from the same short cache), so that a writer
        opens a transaction for scores only when there is something to score."""
        now = self.clock()
        return any(
            race.metric is metric and race.starts_at <= now < race.ends_at
            for race in await self.live()
        )

    async def apply(self, events: Sequence[ScoreEvent]) -> int:
        """Move scores for every race whose window holds the event. Call inside the event's
        transaction; returns how many entries moved."""
        if not events:
            return 0
        now = self.clock()
        moved = 0
        for race in await self.live():
            if now >= race.ends_at:
                continue  # frozen at the end: a late approval no longer counts
            for event in events:
                if counts_for(race, event):
                    moved += await self._move(race, event)
        return moved

    async def _move(self, race: Race, event: ScoreEvent) -> int:
        reached_at = self.clock() if event.final > 0 else None
        args = (race.id, event.affiliate_id, event.final, event.provisional, reached_at)
        if await move(*args):
            return 1
        if race.opt_in or not (event.final or event.provisional):
            return 0
        # The affiliate's first score in this race. Another instance may be creating the same
        # entry right now (two loaders, a click and a postback): the row is made if absent
        # (ON CONFLICT DO NOTHING waits for that other transaction), then moved like any other.
        await RaceEntry.bulk_create(
            [RaceEntry(race_id=race.id, affiliate_id=event.affiliate_id, reached_at=self.clock())],
            ignore_conflicts=True,
        )
        return int(await move(*args))


def counts_for(race: Race, event: ScoreEvent) -> bool:
    """Whether an event scores in a race: its metric, its window, its offer, its currency."""
    return (
        event.metric is race.metric
        and race.starts_at <= event.at < race.ends_at
        and (race.offer_id is None or event.offer_id == race.offer_id)
        and (event.currency is None or event.currency == race.currency)
    )
