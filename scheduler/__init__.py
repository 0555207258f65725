"""create_scheduler(): APScheduler in the bot's event loop, jobs from scheduler.jobs."""

from __future__ import annotations

from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.notifier import Notifier
from bot.services.conversions import ConversionService
from scheduler import jobs

JOB_DEFAULTS: dict[str, Any] = {
    "replace_existing": True,
    "max_instances": 1,
    "coalesce": True,
    "misfire_grace_time": 60,
}


def create_scheduler(notifier: Notifier, conversions: ConversionService) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        jobs.sweep_notices,
        "interval",
        seconds=30,
        kwargs={"notifier": notifier},
        id="sweep_notices",
        **JOB_DEFAULTS,
    )
    scheduler.add_job(
        jobs.approve_held_conversions,
        "interval",
        seconds=60,
        kwargs={"conversions": conversions},
        id="approve_held_conversions",
        **JOB_DEFAULTS,
    )
    return scheduler
