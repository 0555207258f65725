"""Races on a controllable clock: lifecycle, ties, opt-in, provisional points, exactly-once
prizes, and the Redis board rebuilt from the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.errors import Conflict, InvalidInput
from bot.services.races import RaceDraft, RaceService, ScoreEvent, Standing, decode, encode, key
from models import (
    Affiliate,
    LedgerEntry,
    Race,
    RaceEntry,
    RaceMark,
    RaceMetric,
    RaceSnapshot,
    RaceStatus,
    TieBreak,
)
from tests.factories import Factory

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def draft(**changes: object) -> RaceDraft:
    values: dict[str, object] = {
        "title": "December sprint",
        "description": "",
        "metric": RaceMetric.CONVERSIONS,
        "offer_id": None,
        "starts_at": T0 + timedelta(hours=1),
        "ends_at": T0 + timedelta(days=2),
        "prizes": [(1, "iPhone", 10000), (2, "", 5000)],
        "min_score": 1,
        "opt_in": False,
        "tie_break": TieBreak.FIRST,
        "mask_names": False,
        "currency": "USD",
        "announce_chat_id": None,
    }
    values.update(changes)
    return RaceDraft(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def races(database: str, redis: Redis, clock: Clock) -> RaceService:
    return RaceService(redis, clock=clock)


async def started(races: RaceService, clock: Clock, **changes: object) -> Race:
    race = await races.create(draft(**changes))
    clock.now = race.starts_at
    assert [r.id for r in await races.start_due()] == [race.id]
    return await races.get(race.id)


async def score(
    races: RaceService,
    clock: Clock,
    aff: Affiliate,
    final: int = 0,
    provisional: int = 0,
    metric: RaceMetric = RaceMetric.CONVERSIONS,
) -> None:
    await races.scoring.apply([ScoreEvent(metric, aff.id, None, clock.now, final, provisional)])


def test_tie_break_is_encoded_so_earlier_wins_on_equal_points() -> None:
    early = encode(5, T0 + timedelta(minutes=1), T0)
    late = encode(5, T0 + timedelta(hours=5), T0)
    more = encode(6, T0 + timedelta(days=40), T0)

    assert more > early > late
    assert decode(early) == decode(late) == 5 and decode(more) == 6
    assert decode(encode(2**31, T0 + timedelta(days=45), T0)) == 2**31


async def test_bad_races_are_refused(races: RaceService, clock: Clock) -> None:
    cases = [
        draft(title="x" * 5000),
        draft(ends_at=T0),
        draft(ends_at=T0 - timedelta(days=1), starts_at=T0 - timedelta(days=2)),
        draft(prizes=[(i, "", 1) for i in range(1, 10001)]),
        draft(ends_at=T0 + timedelta(days=60)),
        draft(min_score=-1),
    ]
    for bad in cases:
        with pytest.raises(InvalidInput):
            await races.create(bad)
    assert await Race.all().count() == 0


async def test_whole_lifecycle_with_exactly_once_prizes(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    a, b, c = [await factory.affiliate(name=n) for n in ("Ann", "Ben", "Cy")]
    race = await started(races, clock)

    await score(races, clock, a, final=3)
    clock.advance(minutes=5)
    await score(races, clock, b, final=3)
    await score(races, clock, c, provisional=10)  # pending only: no final points
    first = await races.tick(race)
    clock.advance(minutes=5)
    await score(races, clock, b, final=1)
    second = await races.tick(await races.get(race.id))
    clock.now = race.ends_at
    placings = await races.finalise(race.id)
    again = await races.finalise(race.id)

    assert [(s.affiliate_id, s.score) for s in first.top] == [(a.id, 3), (b.id, 3), (c.id, 0)]
    assert {n.affiliate_id: n.kind for n in first.news} == {
        a.id: "entered_zone",
        b.id: "entered_zone",
    }
    assert {n.affiliate_id: n.kind for n in second.news} == {a.id: "overtaken", b.id: "best_rank"}
    assert placings is not None and again is None
    assert [(p.affiliate_id, p.place, p.prize_minor) for p in placings] == [
        (b.id, 1, 10000),
        (a.id, 2, 5000),
    ]
    prizes = (
        await LedgerEntry.filter(kind="prize")
        .order_by("amount_minor")
        .values_list("affiliate_id", "amount_minor")
    )
    assert prizes == [(a.id, 5000), (b.id, 10000)]
    assert (await races.get(race.id)).status is RaceStatus.FINISHED
    assert await RaceSnapshot.filter(race_id=race.id).count() == 2
    standings = await races.final_results(await races.get(race.id))
    assert [(r.place, r.affiliate_id) for r in standings] == [(1, b.id), (2, a.id), (3, c.id)]


async def test_split_tie_break_shares_the_prizes(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    a, b, c = [await factory.affiliate() for _ in range(3)]
    race = await started(
        races,
        clock,
        tie_break=TieBreak.SPLIT,
        prizes=[(1, "", 10000), (2, "", 5001), (3, "", 999)],
    )
    await score(races, clock, a, final=4)
    clock.advance(minutes=1)
    await score(races, clock, b, final=4)
    await score(races, clock, c, final=2)
    clock.now = race.ends_at

    placings = await races.finalise(race.id)

    assert placings is not None
    assert sorted((p.place, p.prize_minor) for p in placings) == [(1, 7500), (1, 7501), (3, 999)]
    standings = await races.final_results(await races.get(race.id))
    assert [r.place for r in standings] == [1, 1, 3]


async def test_minimum_score_and_zero_scores_win_nothing(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    a, b = await factory.affiliate(), await factory.affiliate()
    race = await started(races, clock, min_score=5)
    await score(races, clock, a, final=4)
    await score(races, clock, b, provisional=50)
    clock.now = race.ends_at

    assert await races.finalise(race.id) == []
    assert await LedgerEntry.all().count() == 0


async def test_opt_in_race_counts_only_those_who_joined(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    a, b = await factory.affiliate(), await factory.affiliate()
    race = await started(races, clock, opt_in=True)
    await races.join(race.id, a.id)

    await score(races, clock, a, final=1)
    await score(races, clock, b, final=5)

    assert await RaceEntry.filter(race_id=race.id).values_list("affiliate_id", "score") == [
        (a.id, 1)
    ]


async def test_offer_filter_window_and_metric(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    offer = await factory.offer()
    a = await factory.affiliate()
    race = await started(races, clock, offer_id=offer.id, metric=RaceMetric.CLICKS)

    await races.scoring.apply(
        [
            ScoreEvent(RaceMetric.CLICKS, a.id, offer.id, clock.now, final=1),
            ScoreEvent(RaceMetric.CLICKS, a.id, None, clock.now, final=1),  # another offer
            ScoreEvent(RaceMetric.REFERRALS, a.id, offer.id, clock.now, final=1),  # another metric
            ScoreEvent(RaceMetric.CLICKS, a.id, offer.id, race.ends_at, final=1),  # too late
        ]
    )

    assert await RaceEntry.filter(race_id=race.id).values_list("score", flat=True) == [1]


async def test_events_after_the_start_count_before_the_tick_marks_the_race_running(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    a = await factory.affiliate()
    race = await races.create(draft())
    clock.now = race.starts_at - timedelta(seconds=1)
    await score(races, clock, a, final=4)  # before the start: not counted
    clock.now = race.starts_at + timedelta(seconds=3)  # started, but no tick has run yet
    await score(races, clock, a, final=2)

    await races.start_due()

    assert await races.board.rank(race, a.id) == Standing(a.id, 1, 2)


async def test_cancelled_race_takes_no_points_and_gives_no_prizes(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    a = await factory.affiliate()
    race = await started(races, clock)
    await races.cancel(race.id)  # the running-race cache is dropped with it

    await score(races, clock, a, final=5)
    clock.now = race.ends_at

    assert await races.finalise(race.id) is None
    assert await RaceEntry.all().count() == 0
    with pytest.raises(Conflict):
        await races.cancel(race.id)


async def test_two_concurrent_finalisers_credit_prizes_once(
    races: RaceService, clock: Clock, factory: Factory, redis: Redis
) -> None:
    a = await factory.affiliate()
    race = await started(races, clock)
    await score(races, clock, a, final=2)
    clock.now = race.ends_at
    other = RaceService(redis, clock=clock)

    results = await asyncio.gather(races.finalise(race.id), other.finalise(race.id))

    assert sorted(r is None for r in results) == [False, True]
    assert await LedgerEntry.filter(kind="prize").count() == 1


async def test_a_crash_in_the_middle_of_finalisation_loses_and_doubles_nothing(
    races: RaceService, clock: Clock, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await factory.affiliate(), await factory.affiliate()
    race = await started(races, clock)
    await score(races, clock, a, final=2)
    await score(races, clock, b, final=1)
    clock.now = race.ends_at
    real_create = LedgerEntry.create
    calls = 0

    async def crash_on_second(*args: object, **kwargs: object) -> LedgerEntry:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("power cut")
        return await real_create(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LedgerEntry, "create", crash_on_second)
    with pytest.raises(RuntimeError):
        await races.finalise(race.id)
    monkeypatch.setattr(LedgerEntry, "create", real_create)

    assert (await races.get(race.id)).status is RaceStatus.RUNNING  # rolled back whole
    assert await LedgerEntry.all().count() == 0
    assert await races.finalise(race.id) is not None
    assert await LedgerEntry.filter(kind="prize").count() == 2


async def on_the_board(
    races: RaceService, clock: Clock, factory: Factory
) -> tuple[Race, Affiliate, Affiliate]:
    """A running race whose board has a (1 point) behind b (2 points), after a tick."""
    a, b = await factory.affiliate(), await factory.affiliate()
    race = await started(races, clock)
    await score(races, clock, a, final=1)
    await score(races, clock, b, final=2)
    await races.tick(race)
    return race, a, b


async def test_board_is_rebuilt_from_the_database_when_redis_lost_it(
    races: RaceService, clock: Clock, factory: Factory, redis: Redis
) -> None:
    race, a, b = await on_the_board(races, clock, factory)

    await redis.delete(key(race.id))
    again = await races.tick(await races.get(race.id))

    assert [(s.affiliate_id, s.score) for s in again.top] == [(b.id, 2), (a.id, 1)]
    assert (await races.board.rank(race, a.id)) is not None


async def test_a_tick_stores_only_best_ranks_that_improved(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    a, b, c = [await factory.affiliate() for _ in range(3)]
    race = await started(races, clock)
    for aff, points in ((a, 1), (b, 2), (c, 3)):
        await score(races, clock, aff, final=points)
        clock.advance(minutes=1)
    await races.tick(race)
    first = await best_ranks(race)
    await score(races, clock, a, final=5)  # a: 6, first
    await races.tick(await races.get(race.id))
    clock.advance(minutes=1)
    await score(races, clock, b, final=1)  # b: 3, third behind c who reached 3 first
    await races.tick(await races.get(race.id))

    assert first == {a.id: 3, b.id: 2, c.id: 1}
    assert await best_ranks(race) == {a.id: 1, b.id: 2, c.id: 1}


async def test_a_best_rank_stored_after_the_score_moved_is_not_made_worse(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    """The tick compares a new rank with the best rank the entry had when its score moved;
    one stored since (by a tick in between) wins, and nobody hears of a "best" that is not."""
    a, b, c = [await factory.affiliate() for _ in range(3)]
    race = await started(races, clock)
    for aff, points in ((a, 1), (b, 2), (c, 3)):
        await score(races, clock, aff, final=points)
        clock.advance(minutes=1)
    await races.tick(race)
    await score(races, clock, a, final=5)  # a: 6, marked with its best so far, 3rd
    await score(races, clock, c, final=10)  # c: 13, ahead of a
    await RaceEntry.filter(race_id=race.id, affiliate_id=a.id).update(best_rank=1)

    result = await races.tick(await races.get(race.id))

    assert (await races.board.rank(race, a.id)) == Standing(a.id, 2, 6)
    assert (await best_ranks(race))[a.id] == 1
    assert a.id not in {n.affiliate_id for n in result.news if n.kind == "best_rank"}


async def test_a_tick_that_fails_writing_the_board_leaves_the_scores_for_the_next(
    races: RaceService, clock: Clock, factory: Factory, redis: Redis
) -> None:
    race, a, b = await on_the_board(races, clock, factory)
    board = await redis.dump(key(race.id))
    await score(races, clock, a, final=4)  # a: 5, first
    await redis.delete(key(race.id))
    await redis.set(key(race.id), "not a board")  # the tick's ZADD fails with WRONGTYPE

    with pytest.raises(ResponseError):
        await races.tick(await races.get(race.id))
    await redis.delete(key(race.id))
    await redis.restore(key(race.id), 0, board)  # Redis is back with the board as it was
    await races.tick(await races.get(race.id))

    assert [(s.affiliate_id, s.score) for s in await races.board.top(race)] == [
        (a.id, 5),
        (b.id, 2),
    ]


async def test_ranks_of_many_come_in_order_with_none_for_those_off_the_board(
    races: RaceService, clock: Clock, redis: Redis
) -> None:
    race = await started(races, clock)
    await redis.zadd(key(race.id), {str(aff): float(aff) for aff in range(1, 601)})

    ranks = await races.board.ranks(race, [600, 9999, *range(1, 600)])

    assert ranks[:2] == [1, None]
    assert ranks[2:] == list(range(600, 1, -1))


async def best_ranks(race: Race) -> dict[int, int | None]:
    rows = await RaceEntry.filter(race_id=race.id).values_list("affiliate_id", "best_rank")
    return dict(rows)


async def test_reminders_are_due_once(races: RaceService, clock: Clock) -> None:
    race = await started(races, clock)
    clock.now = race.ends_at - timedelta(hours=23)

    first = await races.due_reminders()
    again = await races.due_reminders()
    clock.now = race.ends_at - timedelta(minutes=30)
    last = await races.due_reminders()

    assert [label for _, label in first] == ["24h"] and again == []
    assert [label for _, label in last] == ["1h"]


async def test_scores_freeze_at_the_end(
    races: RaceService, clock: Clock, factory: Factory
) -> None:
    a = await factory.affiliate()
    race = await started(races, clock)
    await score(races, clock, a, final=1)
    event_time = clock.now

    clock.now = race.ends_at + timedelta(seconds=1)  # a conversion from the race approved late
    await races.scoring.apply(
        [ScoreEvent(RaceMetric.CONVERSIONS, a.id, None, event_time, final=5)]
    )

    assert await RaceEntry.filter(race_id=race.id).values_list("score", flat=True) == [1]


async def test_two_first_scores_at_once_both_count(
    races: RaceService, clock: Clock, factory: Factory, backend: str
) -> None:
    """Two instances' loaders store the first clicks of one affiliate at the same moment:
    each creates the race entry in its own transaction. Both scores count, none fails."""
    from tortoise.transactions import in_transaction

    a = await factory.affiliate()
    race = await started(races, clock, metric=RaceMetric.CLICKS)
    # On PostgreSQL the two transactions overlap; SQLite runs one writer at a time.
    both_inside = asyncio.Barrier(2 if backend == "postgres" else 1)

    async def first_click(points: int) -> None:
        async with in_transaction():
            await both_inside.wait()
            await score(races, clock, a, final=points, metric=RaceMetric.CLICKS)

    await asyncio.wait_for(asyncio.gather(first_click(1), first_click(2)), 10)

    entry = await RaceEntry.get(race_id=race.id, affiliate_id=a.id)
    assert entry.score == 3 and await RaceMark.exists(entry_id=entry.id)  # for the next tick
