"""What a race is made of before it runs, and every rule it must keep: one check for the
admin's dialog, the edit command and any later surface alike."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta

from bot.errors import N_, InvalidInput
from bot.services.inputs import has_control
from models import Race, RaceMetric, RacePrize, TieBreak

MAX_DURATION = timedelta(days=45)
MAX_PLACES = 100
TITLE_MAX = 128
DESCRIPTION_MAX = 1024
# A start a little in the past is "now" typed a while ago (a preview left open before
# Confirm); anything earlier is a mistake.
START_GRACE = timedelta(minutes=15)


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


@dataclass(frozen=True, slots=True)
class RaceChange:
    """An edit of a race that has not started: only the fields given change."""

    title: str | None = None
    description: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    min_score: int | None = None
    opt_in: bool | None = None
    mask_names: bool | None = None
    tie_break: TieBreak | None = None
    announce_chat_id: int | None = None

    def given(self) -> dict[str, object]:
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not None
        }


def check_description(raw: str) -> str:
    if len(raw) > DESCRIPTION_MAX or has_control(raw, allow_newlines=True):
        raise InvalidInput(N_("A description is at most {size} characters."), size=DESCRIPTION_MAX)
    return raw.strip()


def check_start(starts_at: datetime, now: datetime) -> None:
    if starts_at < now - START_GRACE:
        raise InvalidInput(N_("The start cannot be in the past."))


def check_end(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidInput(N_("The end must be after the start."))
    if ends_at <= now:
        raise InvalidInput(N_("The end must be in the future."))
    if ends_at - starts_at > MAX_DURATION:
        raise InvalidInput(N_("A race lasts at most {days} days."), days=MAX_DURATION.days)


def check_prizes(prizes: list[tuple[int, str, int]]) -> None:
    if len(prizes) > MAX_PLACES:
        raise InvalidInput(N_("At most {count} prize places."), count=MAX_PLACES)


def check_draft(draft: RaceDraft, now: datetime, *, new_start: bool = True) -> None:
    """Every rule a race must keep, each with a message an admin understands. `new_start`:
    the start is being set now (a new race, or an edit of it), so it may not lie in the past."""
    if not draft.title or len(draft.title) > TITLE_MAX:
        raise InvalidInput(N_("A title is 1–{size} characters."), size=TITLE_MAX)
    check_description(draft.description)
    if new_start:
        check_start(draft.starts_at, now)
    check_end(draft.starts_at, draft.ends_at, now)
    check_prizes(draft.prizes)
    if draft.min_score < 0:
        raise InvalidInput(N_("The minimum score cannot be negative."))


def draft_of(race: Race, prizes: list[RacePrize]) -> RaceDraft:
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


def changed(draft: RaceDraft, change: RaceChange) -> RaceDraft:
    return replace(draft, **change.given())  # type: ignore[arg-type]
