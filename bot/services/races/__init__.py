"""Races: drafts and their rules, scores as events land, the Redis board, ticks with news,
and results with exactly-once prizes. `RaceService` is the one API the edges call."""

from bot.services.races.board import Standing, decode, encode, key
from bot.services.races.drafts import MAX_PLACES, RaceChange, RaceDraft, check_draft
from bot.services.races.results import FinalResult, Placing
from bot.services.races.scoring import ScoreEvent, Scoring
from bot.services.races.service import BoardPage, Gap, RaceCard, RaceService
from bot.services.races.ticks import TOP, News, NewsKind, Reminder, TickResult

__all__ = [
    "MAX_PLACES",
    "TOP",
    "BoardPage",
    "FinalResult",
    "Gap",
    "News",
    "NewsKind",
    "Placing",
    "RaceCard",
    "RaceChange",
    "RaceDraft",
    "RaceService",
    "Reminder",
    "ScoreEvent",
    "Scoring",
    "Standing",
    "TickResult",
    "check_draft",
    "decode",
    "encode",
    "key",
]
