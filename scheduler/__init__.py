"""create_scheduler(): APScheduler in the bot's event loop, jobs from scheduler.jobs."""

from __future__ import annotations

from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.lease import Lease
from bot.live import RaceFeed
from bot.metrics import Metrics
from bot.services.conversions import ConversionService
from bot.services.races import RaceService
from bot.telegram.broadcasts import BroadcastReporter
from bot.telegram.notifier import Notifier
from bot.telegram.race_news import RaceNews
from bot.telegram.sender import OutboxSender
from scheduler import jobs

JOB_DEFAULTS: dict[str, Any] = {
    "replace_existing": True,
    "max_instances": 1,
    "coalesce": True,
    "misfire_grace_time": 60,
}
OUTBOX_EVERY = 5
BROADCAST_EVERY = 3  # seconds between two edits of a broadcast's progress message


def create_scheduler(  # noqa: PLR0913 - the wiring of every job's services, by name
    *,
    lease: Lease,
    notifier: Notifier,
    conversions: ConversionService,
    races: RaceService,
    race_news: RaceNews,
    sender: OutboxSender,
    feed: RaceFeed,
    tick_seconds: int,
    metrics: Metrics | None = None,
    reporter: BroadcastReporter | None = None,
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")

    def add(func: Any, every: float, **kwargs: Any) -> None:
        scheduler.add_job(
            func, "interval", seconds=every, kwargs=kwargs, id=func.__name__, **JOB_DEFAULTS
        )

    add(jobs.keep_lease, 10, lease=lease)
    add(jobs.sweep_notices, 30, notifier=notifier, lease=lease)
    add(jobs.approve_held_conversions, 60, conversions=conversions, lease=lease)
    add(
        jobs.tick_races,
        tick_seconds,
        races=races,
        news=race_news,
        lease=lease,
        feed=feed,
        metrics=metrics,
    )
    add(jobs.send_outbox, OUTBOX_EVERY, sender=sender, lease=lease, seconds=OUTBOX_EVERY - 0.5)
    if reporter is not None:
        add(jobs.report_broadcasts, BROADCAST_EVERY, reporter=reporter, lease=lease)
    return scheduler
