"""Scheduled jobs: module-level, explicit arguments, idempotent sweeps over the database."""

from __future__ import annotations

from loguru import logger

from bot.notifier import Notifier
from bot.services.conversions import ConversionService


async def sweep_notices(notifier: Notifier) -> None:
    """Send notices left behind by a restart or another instance. Sends nothing twice."""
    sent = await notifier.sweep()
    if sent:
        logger.info("sent {} delayed notices", sent)


async def approve_held_conversions(conversions: ConversionService) -> None:
    """Approve pending conversions whose hold has passed. A rerun approves nothing twice."""
    approved = await conversions.approve_due()
    if approved:
        logger.info("approved {} conversions after their hold", len(approved))
