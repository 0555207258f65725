"""Scheduled jobs: module-level, explicit arguments, idempotent sweeps over the database.

With several processes, each job first checks the lease: only its holder does the work.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec

from loguru import logger

from bot.errors import outage
from bot.lease import Lease
from bot.live import RaceFeed
from bot.metrics import Metrics
from bot.services.conversions import ConversionService
from bot.services.races import RaceService
from bot.telegram.broadcasts import BroadcastReporter
from bot.telegram.notifier import Notifier
from bot.telegram.race_news import RaceNews
from bot.telegram.sender import OutboxSender

P = ParamSpec("P")


def waits_out_outages(job: Callable[P, Awaitable[None]]) -> Callable[P, Awaitable[None]]:
    """A run that meets an outage of the database or Redis logs one warning line and does
    nothing more: the next run tries again (every job is an idempotent sweep)."""

    @functools.wraps(job)
    async def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await job(*args, **kwargs)
        except Exception as exc:
            down = outage(exc)
            if down is None:
                raise
            logger.warning("{} skipped: the {} is unavailable ({!r})", job.__name__, down, exc)

    return run


@waits_out_outages
async def keep_lease(lease: Lease) -> None:
    """Take or renew the scheduler lease; another process takes over if this one dies."""
    await lease.hold()


@waits_out_outages
async def sweep_notices(notifier: Notifier, lease: Lease) -> None:
    """Send notices left behind by a restart or another instance. Sends nothing twice."""
    if not await lease.hold():
        return
    sent = await notifier.sweep()
    if sent:
        logger.info("sent {} delayed notices", sent)


@waits_out_outages
async def approve_held_conversions(conversions: ConversionService, lease: Lease) -> None:
    """Approve pending conversions whose hold has passed. A rerun approves nothing twice."""
    if not await lease.hold():
        return
    approved = await conversions.approve_due()
    if approved:
        logger.info("approved {} conversions after their hold", len(approved))


@waits_out_outages
async def tick_races(
    races: RaceService,
    news: RaceNews,
    lease: Lease,
    feed: RaceFeed,
    metrics: Metrics | None = None,
) -> None:
    """Start due races, tick running ones, remind, finalise ended ones, announce results.

    Every step is a guarded transition or keyed in the outbox, so a rerun (or a restart in the
    middle) sends nothing twice and credits no prize twice.
    """
    if not await lease.hold():
        return
    for race in await races.start_due():
        logger.info("race {} started", race.id)
        await feed.publish(race.id)
    for race in await races.ended():
        placings = await races.finalise(race.id)
        if placings is not None:
            logger.info("race {} finished: {} prize winners", race.id, len(placings))
            await feed.publish(race.id)
    for race, label in await races.due_reminders():
        await news.remind(race, label)
    started = time.perf_counter()
    for race in await races.running():
        result = await races.tick(race)
        if result.changed:  # live boards hear of the standings that moved
            await feed.publish(race.id)
        await news.after_tick(result)
    if metrics is not None:
        metrics.tick_seconds.observe(time.perf_counter() - started)
    for race in await races.results_due():
        queued = await news.results(race)
        logger.info("race {} results queued for {} participants", race.id, queued)


@waits_out_outages
async def send_outbox(sender: OutboxSender, lease: Lease, seconds: float) -> None:
    """Deliver waiting bulk messages for a while, paced under Telegram's limits."""
    if not await lease.hold():
        return
    await sender.drain(seconds)


@waits_out_outages
async def report_broadcasts(reporter: BroadcastReporter, lease: Lease) -> None:
    """Bring each broadcast's progress message up to date; report the ones that ended."""
    if not await lease.hold():
        return
    await reporter.report()
