"""create_scheduler(): APScheduler in the bot's event loop, jobs from scheduler.jobs."""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.notifier import Notifier
from scheduler import jobs


def create_scheduler(notifier: Notifier) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        jobs.sweep_referral_notices,
        "interval",
        seconds=30,
        kwargs={"notifier": notifier},
        id="sweep_referral_notices",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=30,
    )
    return scheduler
