"""One running process: start what its roles need (ROLE), serve until a stop signal, then stop
within SHUTDOWN_DRAIN_SECONDS. The one place that wires a process; `python -m bot` calls run()."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Coroutine
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramUnauthorizedError,
)
from aiohttp import web
from loguru import logger

from bot import db
from bot.config import Settings
from bot.factory import (
    Services,
    create_app,
    create_bot,
    create_dispatcher,
    create_scheduler_for,
    create_services,
    resolve_bot_identity,
)
from bot.lease import Lease
from bot.observability import setup_sentry
from bot.redis import create_redis
from bot.services.spool import SpoolBusy
from bot.telegram.commands import publish_commands, publish_menu_button
from bot.telegram.dispatcher import RetryingDispatcher
from bot.telegram.polling import poll_while_leading
from scheduler import Scheduler, jobs

PARKED_REPLAY_SECONDS = 30
LAST_CLOSE_SECONDS = 2.0  # the closes after the drain get at least this
GETME_ATTEMPTS = 3


class StartupError(Exception):
    """A problem at start that one plain line explains."""


async def run(settings: Settings) -> None:
    # From the first moment, SIGTERM and SIGINT stop the process gracefully: one that came
    # while it was starting (after /ready answered, before polling) used to kill it outright.
    stop = _stop_on_signals()
    if setup_sentry(settings):
        logger.info("errors are reported to Sentry ({})", settings.SENTRY_ENVIRONMENT)
    await db.migrate(settings.DATABASE_URL)
    await db.init(settings.DATABASE_URL, timeouts=settings.db_timeouts)
    redis = create_redis(
        settings.REDIS_URL, settings.REDIS_CONNECT_TIMEOUT, settings.REDIS_TIMEOUT
    )
    bot = create_bot(settings)
    services = create_services(settings, bot, redis)
    dp = create_dispatcher(settings, redis, services)
    scheduler = create_scheduler_for(settings, services)
    runner = web.AppRunner(
        create_app(settings, bot, dp, redis, services),
        access_log=None,
        shutdown_timeout=settings.SHUTDOWN_DRAIN_SECONDS,  # for requests in flight at a stop
    )
    loading = False
    logger.info("roles: {}", ", ".join(sorted(settings.ROLE)))
    try:
        # Clicks an earlier run left in the spool are stored before anything reads clicks.
        if settings.runs("web"):
            try:
                await services.click_loader.start()
            except SpoolBusy as exc:
                raise StartupError(str(exc)) from None
            loading = True
        # A stop signal while starting (the server already up, Telegram slow to answer)
        # cancels the rest of the start at once; the clean stop below still runs.
        if await unless_stopped(stop, _start(settings, bot, dp, services, scheduler, runner)):
            await _serve(settings, stop, bot, dp, services.poller)
    finally:
        await _stop(settings, services, dp, scheduler, runner, loading)
        await bot.session.close()
        await redis.aclose()
        await db.close()
        logger.info("stopped")


async def _start(
    settings: Settings,
    bot: Bot,
    dp: Dispatcher,
    services: Services,
    scheduler: Scheduler,
    runner: web.AppRunner,
) -> None:
    """Everything between a replayed spool and serving, as far as this process's roles go:
    who we are, menus, the HTTP server, the scheduler with a catch-up tick, and the webhook
    set or removed."""
    await _who_am_i(bot, settings, services)
    if settings.runs("bot"):
        await _menus(bot, settings, services)
    # Long-lived start-up objects out of the collector's way: full collections of them
    # paused the process for 150-230 ms under load (bench/README.md).
    gc.collect()
    gc.freeze()
    if settings.runs("web"):
        services.feed.start()  # live boards: ticks from any instance reach our clients
        services.journal.start()  # the postback log, stored in the background
    await runner.setup()
    await web.TCPSite(runner, settings.WEB_HOST, settings.WEB_PORT).start()
    logger.info("HTTP server on {}:{}", settings.WEB_HOST, settings.WEB_PORT)
    if settings.runs("scheduler"):
        # What is queued goes out at once: here, or in another process that rings the bell.
        services.sender.start(services.lease)
        if services.sender.bell is not None:
            services.sender.bell.start(services.sender.wake_here)
        scheduler.start()
        # A race whose end passed while no process ran is finalised now, not a tick later.
        await jobs.tick_races(
            services.races, services.race_news, services.lease, services.feed, services.metrics
        )
    if not settings.runs("bot"):
        return
    if settings.use_webhook:
        assert settings.WEBHOOK_URL and settings.WEBHOOK_SECRET
        await bot.set_webhook(
            settings.WEBHOOK_URL,
            secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
            allowed_updates=dp.resolve_used_update_types(),
        )
        logger.info("webhook set to {}", settings.WEBHOOK_URL)
    else:
        await bot.delete_webhook(drop_pending_updates=False)


async def _serve(
    settings: Settings, stop: asyncio.Event, bot: Bot, dp: RetryingDispatcher, poller: Lease
) -> None:
    """Until a stop signal: webhook updates come through the HTTP server; or poll (while no
    other process does)."""
    if settings.use_webhook or not settings.runs("bot"):
        await stop.wait()
        return
    replaying = asyncio.create_task(_replay_parked(dp, bot))
    try:
        await poll_while_leading(stop, dp, bot, dp.resolve_used_update_types(), poller)
    finally:
        replaying.cancel()


async def unless_stopped(stop: asyncio.Event, work: Coroutine[Any, Any, None]) -> bool:
    """Run `work` to its end (True), or cancel it when `stop` is set first (False)."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        task.result()  # what it raised
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    logger.info("stopped while starting")
    return False


async def _stop(
    settings: Settings,
    services: Services,
    dp: RetryingDispatcher,
    scheduler: Scheduler,
    runner: web.AppRunner,
    loading: bool,
) -> None:
    """Stop taking work, then finish what was taken, all within SHUTDOWN_DRAIN_SECONDS: no
    new job, request or update is started; the running jobs, requests and updates end; the
    spool is drained into the database; what is left of it is stored at the next start."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.SHUTDOWN_DRAIN_SECONDS

    def left() -> float:
        return max(deadline - loop.time(), 0.0)

    late_jobs, late_updates, _ = await asyncio.gather(
        scheduler.finish(left()),  # an outbox drain ends its message, a tick its race
        dp.finish_in_flight(left()),  # polled updates being handled
        runner.cleanup(),  # stops listening, then waits for requests (webhook updates too)
    )
    if late_jobs or late_updates:
        logger.warning(
            "stopped {} job(s) and {} update(s) that did not end in time", late_jobs, late_updates
        )
    if loading:
        await services.click_loader.close(left())
    try:  # each of these ends at once unless a dependency hangs: bounded all the same
        async with asyncio.timeout(max(left(), LAST_CLOSE_SECONDS)):
            await services.lease.release()
            await services.conversions.close()
            await services.notifier.close()
            await services.sender.close()
            await services.feed.close()
            await services.journal.close()
            await services.tally.close()
            await services.stats.close()
    except TimeoutError:
        logger.warning("the stop ran out of time; what is left is picked up at the next start")


async def _menus(bot: Bot, settings: Settings, services: Services) -> None:
    """The "/" command lists and the chat's menu button (the Mini App, when it has https)."""
    try:
        admins = frozenset(tg for tg, _known in await services.desk.admins())
        await publish_commands(bot, services.i18n, admins)
        await publish_menu_button(bot, settings.miniapp_url)
    except (TelegramAPIError, TelegramNetworkError) as exc:
        logger.warning("could not set the command lists or the menu button: {}", exc)


async def _who_am_i(bot: Bot, settings: Settings, services: Services) -> None:
    for attempt in range(1, GETME_ATTEMPTS + 1):
        try:
            await resolve_bot_identity(bot, settings, services)
            return
        except TelegramUnauthorizedError:
            raise StartupError(
                "BOT_TOKEN was refused by Telegram: copy the token again from @BotFather"
            ) from None
        except TelegramNetworkError as exc:
            if attempt == GETME_ATTEMPTS:
                raise StartupError(
                    f"cannot reach the Bot API at {settings.BOT_API_URL}: {exc.message}"
                ) from None
            logger.warning("Bot API not reachable ({}), retrying", exc.message)
            await asyncio.sleep(2 * attempt)


async def _replay_parked(dp: RetryingDispatcher, bot: Bot) -> None:
    """Channel joins and leaves kept through a long outage are run again once it is over."""
    while True:
        try:
            await dp.replay_parked(bot)
        except Exception:
            logger.exception("could not replay the kept updates; trying again later")
        await asyncio.sleep(PARKED_REPLAY_SECONDS)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
