"""RaceService: every use case of races, for whichever surface asks (chat, Mini App, admin
panel, scheduler). The rules live in the parts it holds: drafts, scoring, the board, ticks
and results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis
from tortoise.transactions import in_transaction

from bot.errors import N_, Conflict, NotFound
from bot.services.races.board import Board, Standing
from bot.services.races.drafts import (
    RaceChange,
    RaceDraft,
    changed,
    check_draft,
    check_prizes,
    draft_of,
)
from bot.services.races.marks import mark
from bot.services.races.results import FinalResult, Placing, Results
from bot.services.races.scoring import Scoring
from bot.services.races.ticks import TOP, Reminder, TickResult, Ticks
from bot.services.races.viewers import placed
from models import Affiliate, Race, RaceEntry, RacePrize, RaceStatus

OPEN = (RaceStatus.SCHEDULED, RaceStatus.RUNNING)
ENTRY_CHUNK = 500  # viewers' entries per query (SQLite's limit on parameters)


@dataclass(frozen=True, slots=True)
class Gap:
    """How much the viewer needs to pass the place above them."""

    points: int
    place: int


@dataclass(frozen=True)
class RaceCard:
    """One race as one affiliate sees it: their rank, score, gap, and the top."""

    race: Race
    prizes: list[RacePrize]
    me: Standing | None = None
    provisional: int = 0
    joined: bool = False
    can_join: bool = False
    gap: Gap | None = None
    top: list[Standing] = field(default_factory=list)
    names: dict[int, Affiliate] = field(default_factory=dict)
    result: FinalResult | None = None  # a finished race: the viewer's stored outcome

    @property
    def ranked(self) -> bool:
        """Whether there is a board to show (the race has started)."""
        return self.race.status in (RaceStatus.RUNNING, RaceStatus.FINISHED)


@dataclass(frozen=True)
class BoardPage:
    race: Race
    page: int
    rows: list[Standing]
    has_more: bool
    leader: int | None  # the leader's score, for the progress bars
    me: Standing | None  # the viewer, when they are not on this page
    names: dict[int, Affiliate]


class RaceService:
    def __init__(self, redis: Redis, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.board = Board(redis)
        self.scoring = Scoring(self.clock)
        self.ticks = Ticks(self.board, self.clock)
        self.results = Results(self.clock)

    # -- admin -------------------------------------------------------------------------------

    async def create(self, draft: RaceDraft, created_by: int | None = None) -> Race:
        check_draft(draft, self.clock())
        async with in_transaction():
            race = await Race.create(
                title=draft.title,
                description=draft.description,
                metric=draft.metric,
                offer_id=draft.offer_id,
                starts_at=draft.starts_at,
                ends_at=draft.ends_at,
                status=RaceStatus.SCHEDULED,
                min_score=draft.min_score,
                opt_in=draft.opt_in,
                tie_break=draft.tie_break,
                mask_names=draft.mask_names,
                currency=draft.currency,
                announce_chat_id=draft.announce_chat_id,
                created_by=created_by,
            )
            await self._put_prizes(race, draft.prizes)
        self.scoring.forget()
        if race.starts_at <= self.clock():  # "now": running at once, not a tick later
            await self._start(race)
        return race

    async def get(self, race_id: int) -> Race:
        race = await Race.get_or_none(id=race_id)
        if race is None:
            raise NotFound(N_("There is no race #{id}."), id=race_id)
        return race

    async def prizes(self, race_id: int) -> list[RacePrize]:
        return await RacePrize.filter(race_id=race_id).order_by("place")

    async def listing(self) -> dict[RaceStatus, list[Race]]:
        """Upcoming, running and the latest finished races, for the Races screen."""
        result: dict[RaceStatus, list[Race]] = {}
        for status, order in (
            (RaceStatus.SCHEDULED, "starts_at"),
            (RaceStatus.RUNNING, "ends_at"),
            (RaceStatus.FINISHED, "-ends_at"),
        ):
            result[status] = await Race.filter(status=status).order_by(order).limit(10)
        return result

    async def all_races(self) -> list[Race]:
        return await Race.all().order_by("-id").limit(30)

    async def _editable(self, race_id: int) -> Race:
        race = await self.get(race_id)
        if race.status is not RaceStatus.SCHEDULED or race.starts_at <= self.clock():
            raise Conflict(N_("Only a race that has not started can be edited."))
        return race

    async def edit(self, race_id: int, change: RaceChange) -> Race:
        """Change a race that has not started yet; the same rules as a new one."""
        race = await self._editable(race_id)
        draft = changed(draft_of(race, await self.prizes(race.id)), change)
        check_draft(draft, self.clock(), new_start=change.starts_at is not None)
        values = change.given()
        for name, value in values.items():
            setattr(race, name, value)
        await race.save(update_fields=list(values))
        self.scoring.forget()
        return race

    async def set_prizes(self, race_id: int, prizes: list[tuple[int, str, int]]) -> None:
        race = await self._editable(race_id)
        check_prizes(prizes)
        async with in_transaction():
            await RacePrize.filter(race_id=race.id).delete()
            await self._put_prizes(race, prizes)

    @staticmethod
    async def _put_prizes(race: Race, prizes: Sequence[tuple[int, str, int]]) -> None:
        for place, text, amount in prizes:
            await RacePrize.create(race=race, place=place, text=text, amount_minor=amount)

    async def cancel(self, race_id: int) -> Race:
        race = await self.get(race_id)
        moved = await Race.filter(id=race.id, status__in=[*OPEN, RaceStatus.DRAFT]).update(
            status=RaceStatus.CANCELLED, finished_at=self.clock()
        )
        if not moved:
            raise Conflict(N_("Race #{id} is already over."), id=race.id)
        await self.board.drop(race.id)
        self.scoring.forget()
        return await self.get(race.id)

    async def finish_now(self, race_id: int) -> list[Placing]:
        """End a running race at once: frozen, placed, prizes credited. Only this race: others
        start and end on the scheduler's ticks. One that has not started is refused (nobody
        could have scored: it is cancelled, not ended)."""
        race = await self.finishable(race_id)
        now = self.clock()
        await Race.filter(id=race.id, status__in=list(OPEN)).update(
            ends_at=now, status=RaceStatus.RUNNING
        )
        self.scoring.forget()
        return await self.finalise(race.id) or []

    async def finishable(self, race_id: int) -> Race:
        """The race, if it may be ended now; why not, otherwise."""
        race = await self.get(race_id)
        if race.status not in OPEN:
            raise Conflict(N_("Race #{id} is already over."), id=race.id)
        if race.status is RaceStatus.SCHEDULED and race.starts_at > self.clock():
            raise Conflict(
                N_(
                    "Race #{id} has not started, so nobody has scored: cancel it with "
                    "/race_cancel {id} instead."
                ),
                id=race.id,
            )
        return race

    # -- affiliates --------------------------------------------------------------------------

    async def join(self, race_id: int, affiliate_id: int) -> RaceEntry:
        race = await self.get(race_id)
        if race.status not in OPEN:
            raise Conflict(N_("This race is over."))
        async with in_transaction():
            entry, created = await RaceEntry.get_or_create(
                race_id=race.id,
                affiliate_id=affiliate_id,
                defaults={"reached_at": max(self.clock(), race.starts_at)},
            )
            if created:  # on the board from the next tick, with no points yet
                await mark(race.id, affiliate_id)
        return entry

    async def entry(self, race_id: int, affiliate_id: int) -> RaceEntry | None:
        return await RaceEntry.get_or_none(race_id=race_id, affiliate_id=affiliate_id)

    async def card(self, race_id: int, affiliate_id: int) -> RaceCard:
        """The race card: prizes, the viewer's rank, provisional points and the gap to the
        place above, the top, and whether they may join."""
        return (await self.cards(race_id, [affiliate_id]))[affiliate_id]

    async def cards(self, race_id: int, affiliate_ids: Sequence[int]) -> dict[int, RaceCard]:
        """The card of each of many viewers (a live board after a tick): what they share is
        read once; their entries in one query per chunk (plain values, not models, while the
        race runs), their ranks and gaps in one Redis round trip, whatever their number."""
        race = await self.get(race_id)
        prizes = await self.prizes(race.id)
        viewers = list(dict.fromkeys(affiliate_ids))
        finished = race.status is RaceStatus.FINISHED
        provisional, results = await self._viewer_entries(race.id, viewers, finished)
        if race.status not in (RaceStatus.RUNNING, RaceStatus.FINISHED):
            return {
                a: RaceCard(
                    race,
                    prizes,
                    joined=a in provisional,
                    can_join=race.opt_in and a not in provisional and race.status in OPEN,
                )
                for a in viewers
            }
        await self.board.ensure(race)
        # a running race shows the gap to the place above; a finished one has places
        on_board = await placed(self.board.redis, race.id, viewers, gaps=not finished)
        top = await self.board.top(race, 0, TOP)
        names = await self.names([s.affiliate_id for s in top])
        can_join = race.opt_in and race.status in OPEN
        cards = {}
        for a in viewers:
            here = on_board.get(a)
            me, gap = None, None
            if here is not None:
                me = here.standing
                if here.above is not None:
                    gap = Gap(here.above - me.score + 1, me.rank - 1)
            joined = a in provisional
            cards[a] = RaceCard(
                race,
                prizes,
                me=me,
                provisional=provisional.get(a, 0),
                joined=joined,
                can_join=can_join and not joined,
                gap=gap,
                top=top,
                names=names,
                result=results.get(a),
            )
        return cards

    @staticmethod
    async def _viewer_entries(
        race_id: int, viewers: list[int], finished: bool
    ) -> tuple[dict[int, int], dict[int, FinalResult]]:
        """The provisional points of each viewer who has an entry, and (`finished`) the stored
        outcome of each who had a place."""
        provisional: dict[int, int] = {}
        results: dict[int, FinalResult] = {}
        for i in range(0, len(viewers), ENTRY_CHUNK):
            part = viewers[i : i + ENTRY_CHUNK]
            chunk = RaceEntry.filter(race_id=race_id, affiliate_id__in=part)
            if not finished:
                provisional.update(await chunk.values_list("affiliate_id", "provisional"))
                continue
            for entry in await chunk:
                provisional[entry.affiliate_id] = entry.provisional
                if (result := Results.of(entry)) is not None:
                    results[entry.affiliate_id] = result
        return provisional, results

    async def board_page(self, race_id: int, affiliate_id: int, page: int) -> BoardPage:
        race = await self.get(race_id)
        await self.board.ensure(race)
        rows = await self.board.top(race, page * TOP, TOP + 1)
        leader = await self.board.top(race, 0, 1)
        shown = rows[:TOP]
        me = None
        if not any(s.affiliate_id == affiliate_id for s in shown):
            me = await self.board.rank(race, affiliate_id)
        return BoardPage(
            race,
            page,
            shown,
            has_more=len(rows) > TOP,
            leader=leader[0].score if leader else None,
            me=me,
            names=await self.names([s.affiliate_id for s in shown]),
        )

    async def names(self, affiliate_ids: Sequence[int]) -> dict[int, Affiliate]:
        return {a.id: a for a in await Affiliate.filter(id__in=list(affiliate_ids))}

    # -- the scheduler -----------------------------------------------------------------------

    async def start_due(self) -> list[Race]:
        now = self.clock()
        due = await Race.filter(status=RaceStatus.SCHEDULED, starts_at__lte=now)
        started = [race for race in due if await self._start(race)]
        self.scoring.forget()
        return started

    async def _start(self, race: Race) -> bool:
        """Scheduled → running (once, whoever gets there first), with its board built."""
        moved = await Race.filter(id=race.id, status=RaceStatus.SCHEDULED).update(
            status=RaceStatus.RUNNING
        )
        if moved:
            race.status = RaceStatus.RUNNING
            await self.board.rebuild(race)
            self.scoring.forget()
        return bool(moved)

    async def running(self) -> list[Race]:
        return await Race.filter(status=RaceStatus.RUNNING, ends_at__gt=self.clock())

    async def ended(self) -> list[Race]:
        return await Race.filter(status=RaceStatus.RUNNING, ends_at__lte=self.clock())

    async def tick(self, race: Race) -> TickResult:
        return await self.ticks.tick(race)

    async def due_reminders(self) -> list[tuple[Race, Reminder]]:
        return await self.ticks.due_reminders()

    async def finalise(self, race_id: int) -> list[Placing] | None:
        placings = await self.results.finalise(race_id)
        self.scoring.forget()
        return placings

    async def results_due(self) -> list[Race]:
        return await Race.filter(status=RaceStatus.FINISHED, results_sent=False)

    async def mark_results_sent(self, race_id: int) -> None:
        await Race.filter(id=race_id).update(results_sent=True)

    async def final_results(
        self, race: Race, after: int = 0, limit: int = 1000
    ) -> list[FinalResult]:
        return await self.results.final(race, after, limit)

    async def participant_ids(
        self, race_id: int, after_id: int = 0, limit: int = 1000
    ) -> list[tuple[int, int]]:
        """(entry id, affiliate id) pages of a race's participants."""
        return (
            await RaceEntry.filter(race_id=race_id, id__gt=after_id)
            .order_by("id")
            .limit(limit)
            .values_list("id", "affiliate_id")
        )
