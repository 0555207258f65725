"""Races: scoring as events land, ranks in Redis, ticks that find the news, exactly-once prizes.

The database is the source of truth: every score change is written with the event that caused
it (same transaction) and marks its entry dirty; each tick copies dirty entries into the race's
Redis sorted set, which is rebuilt from the database whenever it is missing. Equal scores are
ordered by who reached them first: the tie-break is encoded in the sorted-set score.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import LockError
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot.errors import N_, Conflict, InvalidInput, NotFound
from models import (
    Affiliate,
    LedgerEntry,
    LedgerKind,
    Race,
    RaceEntry,
    RaceMetric,
    RacePrize,
    RaceSnapshot,
    RaceStatus,
    TieBreak,
)

TIE_BITS = 22  # seconds since the start fit in 22 bits: races last at most 48 days
TIE_SPAN = 1 << TIE_BITS
MAX_DURATION = timedelta(days=45)
MAX_PLACES = 100
TOP = 10  # shown on cards and the channel
WATCH = 50  # how deep the tick looks for overtaking news
LIVE_TTL = 5.0
INLINE_REBUILD = 10_000  # entries; a bigger board is rebuilt in the background


def encode(score: int, reached_at: datetime, starts_at: datetime) -> float:
    """Sorted-set score: higher points first; on equal points, whoever reached them first."""
    elapsed = int((reached_at - starts_at).total_seconds())
    elapsed = min(max(elapsed, 0), TIE_SPAN - 1)
    return float(score * TIE_SPAN + (TIE_SPAN - 1 - elapsed))


def decode(value: float) -> int:
    return int(value) // TIE_SPAN


def key(race_id: int) -> str:
    return f"race:{race_id}:board"


def built_key(race_id: int) -> str:
    """Set once the board is built: an empty race has no sorted set to tell it by."""
    return f"race:{race_id}:built"


def placeholders(conn: BaseDBAsyncClient, count: int) -> dict[str, str]:
    """{p1}..{pN} for raw SQL: $1 on PostgreSQL, ? on SQLite."""
    postgres = conn.capabilities.dialect == "postgres"
    return {f"p{i}": f"${i}" if postgres else "?" for i in range(1, count + 1)}


def booleans(conn: BaseDBAsyncClient) -> dict[str, str]:
    if conn.capabilities.dialect == "postgres":
        return {"true": "TRUE", "false": "FALSE"}
    return {"true": "1", "false": "0"}


def as_datetime(value: object) -> datetime:
    """A timestamp from a raw row: asyncpg gives datetimes, SQLite gives ISO text."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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


@dataclass(frozen=True, slots=True)
class Standing:
    affiliate_id: int
    rank: int  # 1-based
    score: int


@dataclass(frozen=True, slots=True)
class News:
    """What one affiliate should hear after a tick (at most one item each)."""

    affiliate_id: int
    kind: str  # "entered_zone", "left_zone", "overtaken", "best_rank"
    rank: int


@dataclass
class TickResult:
    race: Race
    participants: int
    top: list[Standing]
    news: list[News] = field(default_factory=list)
    snapshot_id: int = 0


@dataclass(frozen=True, slots=True)
class Placing:
    affiliate_id: int
    place: int
    score: int
    prize_minor: int
    prize_text: str


@dataclass(frozen=True, slots=True)
class RaceDraft:
    title: str
    description: str
    metric: RaceMetric
    offer_id: int | None
    starts_at: datetime
    ends_at: datetime
    prizes: list[tuple[int, str, int]]  # place, text, amount in minor units
    min_score: int
    opt_in: bool
    tie_break: TieBreak
    mask_names: bool
    currency: str
    announce_chat_id: int | None


def check_draft(draft: RaceDraft, now: datetime) -> None:
    """Every rule a race must keep, each with a message an admin understands."""
    if not draft.title or len(draft.title) > 128:
        raise InvalidInput(N_("A title is 1–{size} characters."), size=128)
    if len(draft.description) > 1024:
        raise InvalidInput(N_("A description is at most {size} characters."), size=1024)
    if draft.ends_at <= draft.starts_at:
        raise InvalidInput(N_("The end must be after the start."))
    if draft.ends_at <= now:
        raise InvalidInput(N_("The end must be in the future."))
    if draft.ends_at - draft.starts_at > MAX_DURATION:
        raise InvalidInput(N_("A race lasts at most {days} days."), days=MAX_DURATION.days)
    if len(draft.prizes) > MAX_PLACES:
        raise InvalidInput(N_("At most {count} prize places."), count=MAX_PLACES)
    if draft.min_score < 0:
        raise InvalidInput(N_("The minimum score cannot be negative."))


class RaceService:
    """Creates races, moves scores, ranks, ticks and finalises them."""

    def __init__(self, redis: Redis, clock: Callable[[], datetime] | None = None) -> None:
        self.redis = redis
        self.clock = clock or (lambda: datetime.now(UTC))
        self._live: tuple[float, list[Race]] | None = None
        self._rebuilds: set[asyncio.Task[int]] = set()

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
            for place, text, amount in draft.prizes:
                await RacePrize.create(race=race, place=place, text=text, amount_minor=amount)
        self._live = None
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

    async def edit(self, race_id: int, field_name: str, value: object) -> Race:
        """Change a race that has not started yet."""
        race = await self.get(race_id)
        if race.status is not RaceStatus.SCHEDULED or race.starts_at <= self.clock():
            raise Conflict(N_("Only a race that has not started can be edited."))
        allowed = {
            "title",
            "description",
            "starts_at",
            "ends_at",
            "min_score",
            "opt_in",
            "mask_names",
            "tie_break",
            "announce_chat_id",
        }
        if field_name not in allowed:
            raise InvalidInput(N_("That field cannot be edited."))
        setattr(race, field_name, value)
        check_draft(self._as_draft(race, await self.prizes(race.id)), self.clock())
        await race.save()
        return race

    async def set_prizes(self, race_id: int, prizes: list[tuple[int, str, int]]) -> None:
        race = await self.get(race_id)
        if race.status is not RaceStatus.SCHEDULED:
            raise Conflict(N_("Only a race that has not started can be edited."))
        if len(prizes) > MAX_PLACES:
            raise InvalidInput(N_("At most {count} prize places."), count=MAX_PLACES)
        async with in_transaction():
            await RacePrize.filter(race_id=race.id).delete()
            for place, text, amount in prizes:
                await RacePrize.create(race=race, place=place, text=text, amount_minor=amount)

    @staticmethod
    def _as_draft(race: Race, prizes: list[RacePrize]) -> RaceDraft:
        return RaceDraft(
            race.title,
            race.description,
            race.metric,
            race.offer_id,
            race.starts_at,
            race.ends_at,
            [(p.place, p.text, p.amount_minor) for p in prizes],
            race.min_score,
            race.opt_in,
            race.tie_break,
            race.mask_names,
            race.currency,
            race.announce_chat_id,
        )

    async def cancel(self, race_id: int) -> Race:
        race = await self.get(race_id)
        moved = await Race.filter(
            id=race.id, status__in=[RaceStatus.SCHEDULED, RaceStatus.RUNNING, RaceStatus.DRAFT]
        ).update(status=RaceStatus.CANCELLED, finished_at=self.clock())
        if not moved:
            raise Conflict(N_("Race #{id} is already over."), id=race.id)
        await self.redis.delete(key(race.id), built_key(race.id))
        self._live = None
        return await self.get(race.id)

    async def end_now(self, race_id: int) -> Race:
        """Bring the end forward to now; the next tick (or the caller) finalises it."""
        race = await self.get(race_id)
        if race.status not in (RaceStatus.RUNNING, RaceStatus.SCHEDULED):
            raise Conflict(N_("Race #{id} is already over."), id=race.id)
        now = self.clock()
        race.ends_at = now
        if race.starts_at > now:
            race.starts_at = now
        await race.save(update_fields=["ends_at", "starts_at"])
        return race

    # -- entering and scoring ----------------------------------------------------------------

    async def join(self, race_id: int, affiliate_id: int) -> RaceEntry:
        race = await self.get(race_id)
        if race.status not in (RaceStatus.SCHEDULED, RaceStatus.RUNNING):
            raise Conflict(N_("This race is over."))
        entry, _ = await RaceEntry.get_or_create(
            race_id=race.id,
            affiliate_id=affiliate_id,
            defaults={"reached_at": max(self.clock(), race.starts_at)},
        )
        return entry

    async def entry(self, race_id: int, affiliate_id: int) -> RaceEntry | None:
        return await RaceEntry.get_or_none(race_id=race_id, affiliate_id=affiliate_id)

    async def _running(self) -> list[Race]:
        """Running and scheduled races, cached for a few seconds: clicks must not pay a query
        each. Scheduled ones are there because a race counts from its start time, not from
        the tick that marks it running (up to RACE_TICK_SECONDS later); apply() checks the
        window, and start_due() builds the board from the entries already scored."""
        now = time.monotonic()
        if self._live is None or self._live[0] < now:
            races = await Race.filter(status__in=[RaceStatus.SCHEDULED, RaceStatus.RUNNING])
            self._live = (now + LIVE_TTL, races)
        return self._live[1]

    async def counts(self, metric: RaceMetric) -> bool:
        """Whether a running race scores this metric now (from the same short cache), so that a
        writer opens a transaction for scores only when there is something to score."""
        now = self.clock()
        return any(
            race.metric is metric and race.starts_at <= now < race.ends_at
            for race in await self._running()
        )

    async def apply(self, events: Sequence[ScoreEvent]) -> int:
        """Move scores for every race whose window holds the event. Call inside the event's
        transaction; returns how many entries moved."""
        if not events:
            return 0
        races = await self._running()
        now = self.clock()
        moved = 0
        for race in races:
            if now >= race.ends_at:
                continue  # frozen at the end: a late approval no longer counts
            for event in events:
                if (
                    event.metric is not race.metric
                    or not race.starts_at <= event.at < race.ends_at
                ):
                    continue
                if race.offer_id is not None and event.offer_id != race.offer_id:
                    continue
                if event.currency is not None and event.currency != race.currency:
                    continue
                moved += await self._move(race, event)
        return moved

    async def _move(self, race: Race, event: ScoreEvent) -> int:
        updates: dict[str, object] = {"dirty": True}
        if event.final:
            updates["score"] = F("score") + event.final
            if event.final > 0:
                updates["reached_at"] = self.clock()
        if event.provisional:
            updates["provisional"] = F("provisional") + event.provisional
        changed = await RaceEntry.filter(race_id=race.id, affiliate_id=event.affiliate_id).update(
            **updates
        )
        if changed or race.opt_in:
            return changed
        await RaceEntry.create(
            race_id=race.id,
            affiliate_id=event.affiliate_id,
            score=event.final,
            provisional=event.provisional,
            reached_at=self.clock(),
            dirty=True,
        )
        return 1

    # -- ranks -------------------------------------------------------------------------------

    async def rebuild(self, race: Race) -> int:
        """Recreate the sorted set from the database; returns the number of entries.

        It claims every dirty flag first (a score that moves meanwhile is dirty again and goes
        in at the next tick), fills a temporary key and renames it over the board, so readers
        never see a half-built board; a lock keeps two rebuilds from running at once.
        """
        board = key(race.id)
        lock = self.redis.lock(f"race:{race.id}:rebuild", timeout=600, blocking_timeout=0.1)
        if not await lock.acquire():
            return 0
        try:
            await RaceEntry.filter(race_id=race.id, dirty=True).update(dirty=False)
            temp = f"{board}:tmp"
            await self.redis.delete(temp)
            count = 0
            last_id = 0
            while True:
                rows = await self._raw_entries(race.id, last_id, 20000)
                if not rows:
                    break
                async with self.redis.pipeline(transaction=False) as pipe:
                    for start in range(0, len(rows), 5000):
                        pipe.zadd(
                            temp,
                            {
                                str(aff): encode(score, at, race.starts_at)
                                for _, aff, score, at in rows[start : start + 5000]
                            },
                        )
                    await pipe.execute()
                count += len(rows)
                last_id = rows[-1][0]
            async with self.redis.pipeline(transaction=True) as pipe:
                if count:
                    pipe.rename(temp, board)
                else:
                    pipe.delete(board)
                pipe.set(built_key(race.id), b"1")
                await pipe.execute()
            return count
        finally:
            with contextlib.suppress(LockError):
                await lock.release()

    async def _raw_entries(
        self, race_id: int, after_id: int, limit: int
    ) -> list[tuple[int, int, int, datetime]]:
        """(id, affiliate, score, reached_at) pages, read raw: the ORM's row building is the
        slow part at a million rows."""
        conn = Tortoise.get_connection("default")
        sql = (
            "SELECT id, affiliate_id, score, reached_at FROM race_entry "
            "WHERE race_id = {p1} AND id > {p2} ORDER BY id LIMIT {p3}"
        )
        rows = await conn.execute_query_dict(
            sql.format(**placeholders(conn, 3)), [race_id, after_id, limit]
        )
        return [
            (r["id"], r["affiliate_id"], r["score"], as_datetime(r["reached_at"])) for r in rows
        ]

    async def _sync(self, race: Race) -> list[int]:
        """Copy dirty entries into Redis; return whose score changed.

        The dirty flags are claimed and the scores read in one statement (UPDATE … RETURNING),
        so a score that moves meanwhile stays dirty for the next tick instead of being lost.
        """
        if await self._board_missing(race):  # first tick, or Redis lost it
            moved = await RaceEntry.filter(race_id=race.id, dirty=True).values_list(
                "affiliate_id", flat=True
            )
            await self.rebuild(race)
            return [cast(int, a) for a in moved]
        conn = Tortoise.get_connection("default")
        sql = (
            "UPDATE race_entry SET dirty = {false} WHERE race_id = {p1} AND dirty = {true} "
            "RETURNING affiliate_id, score, reached_at"
        )
        rows = await conn.execute_query_dict(
            sql.format(**placeholders(conn, 1), **booleans(conn)), [race.id]
        )
        if not rows:
            return []
        board = key(race.id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(rows), 5000):
                pipe.zadd(
                    board,
                    {
                        str(r["affiliate_id"]): encode(
                            r["score"], as_datetime(r["reached_at"]), race.starts_at
                        )
                        for r in rows[start : start + 5000]
                    },
                )
            await pipe.execute()
        return [int(r["affiliate_id"]) for r in rows]

    async def top(self, race: Race, start: int = 0, count: int = TOP) -> list[Standing]:
        rows = await self.redis.zrevrange(key(race.id), start, start + count - 1, withscores=True)
        return [
            Standing(int(member), start + i + 1, decode(value))
            for i, (member, value) in enumerate(rows)
        ]

    async def rank(self, race: Race, affiliate_id: int) -> Standing | None:
        board = key(race.id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrank(board, str(affiliate_id))
            pipe.zscore(board, str(affiliate_id))
            rank, value = await pipe.execute()
        if rank is None or value is None:
            return None
        return Standing(affiliate_id, int(rank) + 1, decode(value))

    async def participants(self, race: Race) -> int:
        return int(await self.redis.zcard(key(race.id)))

    async def ensure_board(self, race: Race) -> None:
        """Build the board if Redis has none (a new process with the in-process stand-in, or a
        lost Redis); the lock in rebuild() makes concurrent callers skip, not repeat it."""
        if not await self._board_missing(race):
            return
        if await RaceEntry.filter(race_id=race.id).count() <= INLINE_REBUILD:
            await self.rebuild(race)
            return
        # A big board takes seconds to rebuild: not while a person waits for a button.
        task = asyncio.create_task(self.rebuild(race))
        self._rebuilds.add(task)
        task.add_done_callback(self._rebuilds.discard)

    async def _board_missing(self, race: Race) -> bool:
        if await self.redis.exists(key(race.id)):
            return False
        if not await self.redis.exists(built_key(race.id)):
            return True
        return await RaceEntry.exists(race_id=race.id)  # built empty, but now has entries

    # -- lifecycle ---------------------------------------------------------------------------

    async def start_due(self) -> list[Race]:
        now = self.clock()
        started = []
        for race in await Race.filter(status=RaceStatus.SCHEDULED, starts_at__lte=now):
            moved = await Race.filter(id=race.id, status=RaceStatus.SCHEDULED).update(
                status=RaceStatus.RUNNING
            )
            if moved:
                race.status = RaceStatus.RUNNING
                await self.rebuild(race)
                started.append(race)
        self._live = None
        return started

    async def tick(self, race: Race) -> TickResult:
        """Sync scores, snapshot the top, and find who should hear what (one item each)."""
        changed = await self._sync(race)
        top = await self.top(race, 0, WATCH)
        participants = await self.participants(race)
        prize_places = await RacePrize.filter(race_id=race.id).count()
        before = {int(a): i + 1 for i, a in enumerate((race.last_snapshot or {}).get("ids", []))}
        now_ranks = {s.affiliate_id: s.rank for s in top}
        news: dict[int, News] = {}
        for aff, old in before.items():
            new = now_ranks.get(aff, WATCH + 1)
            if prize_places and old <= prize_places < new:
                news[aff] = News(aff, "left_zone", new)
            elif new > old:
                news[aff] = News(aff, "overtaken", new)
        for aff, new in now_ranks.items():
            old = before.get(aff, WATCH + 1)
            if prize_places and new <= prize_places < old:
                news[aff] = News(aff, "entered_zone", new)
        if changed:
            await self._best_ranks(race, changed, news)
        snapshot = {"ids": [s.affiliate_id for s in top]}
        taken = await RaceSnapshot.create(
            race=race,
            taken_at=self.clock(),
            participants=participants,
            top=[[s.affiliate_id, s.score] for s in top],
        )
        race.last_snapshot = snapshot
        await race.save(update_fields=["last_snapshot"])
        return TickResult(race, participants, top[:TOP], list(news.values()), taken.id)

    async def _best_ranks(self, race: Race, changed: list[int], news: dict[int, News]) -> None:
        """Record new best ranks (one batched update) and tell those who beat an earlier best."""
        board = key(race.id)
        for start in range(0, len(changed), 5000):
            chunk = changed[start : start + 5000]
            async with self.redis.pipeline(transaction=False) as pipe:
                for aff in chunk:
                    pipe.zrevrank(board, str(aff))
                ranks = await pipe.execute()
            rows = await RaceEntry.filter(race_id=race.id, affiliate_id__in=chunk).values_list(
                "id", "affiliate_id", "best_rank"
            )
            entries = {aff: (pk, best) for pk, aff, best in rows}
            improved: list[RaceEntry] = []
            for aff, value in zip(chunk, ranks, strict=True):
                if value is None or aff not in entries:
                    continue
                pk, best = entries[aff]
                rank = int(value) + 1
                if best is None or rank < best:
                    improved.append(RaceEntry(id=pk, best_rank=rank))
                    if aff not in news and best is not None:
                        news[aff] = News(aff, "best_rank", rank)
            if improved:
                await RaceEntry.bulk_update(improved, fields=["best_rank"], batch_size=1000)

    async def due_reminders(self) -> list[tuple[Race, str]]:
        """Races that should remind their participants now: (race, "24h" | "1h"), once each."""
        now = self.clock()
        due = []
        for race in await Race.filter(status=RaceStatus.RUNNING):
            left = race.ends_at - now
            for label, span, flag in (
                ("1h", timedelta(hours=1), "reminded_1h"),
                ("24h", timedelta(hours=24), "reminded_24h"),
            ):
                if timedelta(0) < left <= span and not getattr(race, flag):
                    if await Race.filter(id=race.id, **{flag: False}).update(**{flag: True}):
                        # A race shorter than the span never ran "24 h before the end".
                        if race.starts_at <= race.ends_at - span:
                            due.append((race, label))
                        if label == "1h":  # a 24 h reminder that late is pointless
                            await Race.filter(id=race.id).update(reminded_24h=True)
                    break
        return due

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

    async def listing_running(self) -> list[Race]:
        return await Race.filter(status=RaceStatus.RUNNING, ends_at__gt=self.clock())

    async def ended(self) -> list[Race]:
        return await Race.filter(status=RaceStatus.RUNNING, ends_at__lte=self.clock())

    async def finalise(self, race_id: int) -> list[Placing] | None:
        """Freeze the race, compute the winners and credit money prizes, all in one transaction.

        The status move running -> finished is the guard: of two finalisers (two schedulers,
        a restart) only one gets it; ledger keys make a credit happen once even so.
        """
        async with in_transaction():
            moved = await Race.filter(id=race_id, status=RaceStatus.RUNNING).update(
                status=RaceStatus.FINISHED, finished_at=self.clock()
            )
            if not moved:
                return None
            race = await Race.get(id=race_id)
            placings = await self.placings(race)
            for p in placings:
                await RaceEntry.filter(race_id=race.id, affiliate_id=p.affiliate_id).update(
                    final_place=p.place, prize_minor=p.prize_minor
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
        self._live = None
        return placings

    async def placings(self, race: Race) -> list[Placing]:
        """The prize winners, by final (approved) score, with the declared tie-break."""
        prizes = {p.place: p for p in await self.prizes(race.id)}
        if not prizes:
            return []
        depth = max(prizes)
        rows = (
            await RaceEntry.filter(race_id=race.id, score__gte=max(race.min_score, 1))
            .order_by("-score", "reached_at", "id")
            .limit(depth * 4 + 50)
            .values_list("affiliate_id", "score")
        )
        placings: list[Placing] = []
        index = 0
        while index < len(rows) and index < depth:
            score = rows[index][1]
            group = [rows[index]]
            if race.tie_break is TieBreak.SPLIT:
                while index + len(group) < len(rows) and rows[index + len(group)][1] == score:
                    group.append(rows[index + len(group)])
            places = range(index + 1, index + len(group) + 1)
            pot = sum(prizes[p].amount_minor for p in places if p in prizes)
            texts = [prizes[p].text for p in places if p in prizes and prizes[p].text]
            share, rest = divmod(pot, len(group))
            for i, (aff, pts) in enumerate(group):
                placings.append(
                    Placing(
                        aff,
                        index + 1,
                        pts,
                        share + (1 if i < rest else 0),
                        " / ".join(texts) if len(group) > 1 else (texts[0] if texts else ""),
                    )
                )
            index += len(group)
        return placings

    async def results_due(self) -> list[Race]:
        return await Race.filter(status=RaceStatus.FINISHED, results_sent=False)

    async def mark_results_sent(self, race_id: int) -> None:
        await Race.filter(id=race_id).update(results_sent=True)

    async def final_standings(
        self, race: Race, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, int, int]]:
        """(place, affiliate id, score) for everyone, in order, a page at a time. With the split
        tie-break, equal scores share the place of the first of them."""
        rows = (
            await RaceEntry.filter(race_id=race.id)
            .order_by("-score", "reached_at", "id")
            .offset(after)
            .limit(limit)
            .values_list("affiliate_id", "score")
        )
        places: dict[int, int] = {}
        result = []
        for i, (aff, score) in enumerate(rows):
            place = after + i + 1
            if race.tie_break is TieBreak.SPLIT:
                if score not in places:
                    higher = await RaceEntry.filter(race_id=race.id, score__gt=score).count()
                    places[score] = higher + 1
                place = places[score]
            result.append((place, int(aff), int(score)))
        return result

    async def names(self, affiliate_ids: Sequence[int]) -> dict[int, Affiliate]:
        return {a.id: a for a in await Affiliate.filter(id__in=list(affiliate_ids))}
