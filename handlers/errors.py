"""Errors as events: domain refusals get a polite reply; Telegram failing a reply is logged as
a warning; anything else is logged as an error and the user gets an apology."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
)
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
    params = exc.params
    if event.update.callback_query is None:
        # A message is HTML and a refusal often quotes what was typed ("a<b is not a time
        # zone I know"): as text, or Telegram refuses the whole reply. An alert is plain text.
        params = {k: escape(v) if isinstance(v, str) else v for k, v in params.items()}
    try:
        await reply(event, _(exc.message).format(**params))
    except (TelegramAPIError, ClientDecodeError) as failed:  # the refusal stays untold
        logger.warning("update {}: refusal not shown: {!r}", event.update.update_id, failed)


# Telegram's words for a request that changed nothing a user would miss: a button pressed
# twice (the screen is already what it would become), a button answered after Telegram's
# ~15 s (the screen still changed; only the spinner was left to stop).
QUIET = ("message is not modified", "query is too old", "query id is invalid")


async def telegram_error(event: ErrorEvent) -> bool:
    """Telegram refused or failed a reply. Not retried (a timed-out reply may have arrived, a
    second would be a duplicate) and no apology (it would meet the same failure)."""
    exc = event.exception
    update_id = event.update.update_id
    if isinstance(exc, TelegramBadRequest):
        if any(words in exc.message.lower() for words in QUIET):
            logger.debug("update {}: {}", update_id, exc.message)
            return True
        return await unexpected_error(event)  # a request we got wrong: our bug
    if isinstance(exc, TelegramForbiddenError):
        logger.info("update {}: the user blocked the bot ({})", update_id, exc.message)
        return True
    logger.warning("update {}: Telegram failed the reply, not retried: {!r}", update_id, exc)
    return True


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
    r.errors.register(telegram_error, ExceptionTypeFilter(TelegramAPIError, ClientDecodeError))
    r.errors.register(unexpected_error)
    return r
