"""Errors as events: domain refusals get a polite reply; anything else is logged."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _
from loguru import logger

from bot.errors import DomainError, outage


async def reply(event: ErrorEvent, text: str) -> None:
    update = event.update
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.message is not None:
        await update.message.answer(text)


async def domain_error(event: ErrorEvent) -> None:
    exc = event.exception
    assert isinstance(exc, DomainError)
    await reply(event, _(exc.message).format(**exc.params))


async def unexpected_error(event: ErrorEvent) -> bool:
    exc = event.exception
    if outage(exc) is not None:
        raise exc  # the dispatcher retries it (polling) or Telegram sends it again (webhook)
    logger.opt(exception=exc).error("update {} failed", event.update.update_id)
    try:
        await reply(event, _("Sorry, something went wrong on our side. Please try again."))
    except Exception:
        logger.exception("could not tell the user about the failure")
    return True


def router() -> Router:
    """This feature's router, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.errors.register(domain_error, ExceptionTypeFilter(DomainError))
    r.errors.register(unexpected_error)
    return r
