"""create_scheduler(): APScheduler in the bot's event loop, jobs from scheduler.jobs."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.lease import Lease
from bot.live import RaceFeed
from bot.metrics import Metrics
from bot.services.conversions import ConversionService
from bot.services.races import RaceService
from bot.telegram.broadcasts import BroadcastReporter
from bot.telegram.flood import caller_handles_floods
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


class Scheduler(AsyncIOScheduler):
    """APScheduler that knows which of its jobs are running, so that a stop lets them end:
    its own shutdown cancels them, which could cut a drain of the outbox between Telegram's
    answer and the row that records it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.running_jobs: set[asyncio.Task[Any]] = set()

    def tracked(self, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(func)
        async def run(**kwargs: Any) -> Any:
            task = asyncio.current_task()
            if task is not None:
                self.running_jobs.add(task)
            try:
                with caller_handles_floods():  # jobs pace themselves: they see every 429
                    return await func(**kwargs)
            finally:
                self.running_jobs.discard(task)

        return run

    async def finish(self, seconds: float) -> int:
        """Start no job from now on, wait up to `seconds` for those running, then shut down
        (cancelling what is left). Returns how many were still running at the end."""
        if not self.running:
            return 0
        self.pause()
        late: set[asyncio.Task[Any]] = set()
        if self.running_jobs:
            _done, late = await asyncio.wait(set(self.running_jobs), timeout=max(seconds, 0))
        self.shutdown(wait=False)
        return len(late)


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
) -> Scheduler:
    scheduler = Scheduler(timezone="UTC")

    def add(func: Any, every: float, **kwargs: Any) -> None:
        scheduler.add_job(
            scheduler.tracked(func),
            "interval",
            seconds=every,
            kwargs=kwargs,
            id=func.__name__,
            **JOB_DEFAULTS,
        )

    add(jobs.keep_lease, lease.try_every, lease=lease)  # renew it, or take it when free
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
