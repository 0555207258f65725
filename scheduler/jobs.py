"""Scheduled jobs: module-level, explicit arguments, idempotent sweeps over the database."""

from __future__ import annotations

from loguru import logger

from bot.notifier import Notifier


async def sweep_referral_notices(notifier: Notifier) -> None:
    """Send referral notices left behind by a restart or another instance. Sends nothing twice."""
    sent = await notifier.sweep_referrals()
    if sent:
        logger.info("sent {} delayed referral notices", sent)
