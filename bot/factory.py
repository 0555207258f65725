"""The composition root: every long-lived object is built here and nowhere else."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from aiogram.utils.i18n import I18n
from aiohttp import web
from redis.asyncio import Redis

from bot.config import Settings
from bot.i18n import DEFAULT_LANGUAGE, DOMAIN, LOCALES_DIR, compile_catalogues
from bot.lease import Lease
from bot.live import Bell, RaceFeed
from bot.metrics import Metrics
from bot.services.admin_desk import AdminDesk
from bot.services.affiliates import AffiliateService
from bot.services.audit import AuditLog
from bot.services.balance import BalanceService
from bot.services.broadcasts import BroadcastService
from bot.services.channels import ChannelService
from bot.services.click_loader import ClickLoader
from bot.services.click_store import ClickStore
from bot.services.clicks import ClickService, target_cache
from bot.services.conversions import ConversionService
from bot.services.exports import ExportService
from bot.services.links import LinkService, LinkUrls
from bot.services.notices import ConversionNotices
from bot.services.offers import OfferService
from bot.services.outbox import OutboxService
from bot.services.postback_log import PostbackJournal
from bot.services.postback_test import PostbackTester
from bot.services.postbacks import PostbackService
from bot.services.races import RaceService
from bot.services.referrals import ReferralService
from bot.services.spool import Spool
from bot.services.stats import StatsService
from bot.services.tally import PostbackTally
from bot.telegram.broadcasts import BroadcastReporter
from bot.telegram.dispatcher import ParkedUpdates, RetryingDispatcher
from bot.telegram.flood import WaitOutShortFloods
from bot.telegram.middlewares.guard import BanMiddleware, ThrottlingMiddleware
from bot.telegram.middlewares.i18n import UserI18nMiddleware
from bot.telegram.middlewares.metrics import MetricsMiddleware
from bot.telegram.middlewares.user import UserMiddleware
from bot.telegram.notifier import Notifier
from bot.telegram.race_news import RaceNews
from bot.telegram.sender import OutboxSender
from bot.web.api.deps import ApiDeps
from bot.web.app import create_web_app
from handlers import get_routers
from scheduler import Scheduler, create_scheduler


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.BOT_API_URL))
    session.middleware(WaitOutShortFloods())
    return Bot(
        token=settings.BOT_TOKEN.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


@dataclass
class Services:
    affiliates: AffiliateService
    links: LinkService
    referrals: ReferralService
    offers: OfferService
    clicks: ClickService
    click_loader: ClickLoader
    conversions: ConversionService
    postbacks: PostbackService
    channels: ChannelService
    balance: BalanceService
    stats: StatsService
    races: RaceService
    outbox: OutboxService
    sender: OutboxSender
    race_news: RaceNews
    lease: Lease  # the scheduler's
    poller: Lease  # polling Telegram
    notifier: Notifier
    i18n: I18n
    feed: RaceFeed
    tally: PostbackTally
    desk: AdminDesk
    journal: PostbackJournal
    tester: PostbackTester
    metrics: Metrics
    broadcasts: BroadcastService
    reporter: BroadcastReporter
    exports: ExportService


def create_services(settings: Settings, bot: Bot, redis: Redis) -> Services:
    compile_catalogues()
    i18n = I18n(path=LOCALES_DIR, default_locale=DEFAULT_LANGUAGE, domain=DOMAIN)
    cache = target_cache()
    affiliates = AffiliateService()
    salt = hmac.new(settings.BOT_TOKEN.get_secret_value().encode(), b"visitor", hashlib.sha256)
    # The bot's username is known only after getMe; on_startup fills it in.
    urls = LinkUrls(settings.PUBLIC_URL, "", settings.MINIAPP_SHORT_NAME)
    races = RaceService(redis)
    referrals = ReferralService(races.scoring)
    conversions = ConversionService(
        min_click_seconds=settings.FRAUD_MIN_CLICK_SECONDS, races=races.scoring
    )
    postbacks = PostbackService(conversions, click_wait=settings.DB_ACQUIRE_TIMEOUT)
    outbox = OutboxService()
    sender = OutboxSender(bot, outbox, affiliates, paid=settings.PAID_BROADCAST)
    spool = Spool(settings.spool_dir, fsync_ms=settings.CLICK_SPOOL_FSYNC_MS)
    click_loader = ClickLoader(
        spool,
        ClickStore(redis, races.scoring, unique_in_redis=settings.REDIS_URL is not None),
        interval_ms=settings.CLICK_LOADER_INTERVAL_MS,
        backlog_warn=settings.CLICK_SPOOL_BACKLOG_WARN,
    )
    postbacks.settle_clicks = click_loader.settle
    metrics = Metrics()
    sender.metrics = metrics
    if settings.REDIS_URL is not None:  # other processes may queue what this one sends
        sender.bell = Bell(redis, f"{settings.CHANNEL_PREFIX}:outbox")
    broadcasts = BroadcastService(outbox)
    balance = BalanceService(minimum=settings.PAYOUT_MINIMUM)
    stats = StatsService()
    offers = OfferService(cache, on_change=[conversions.forget_rates, postbacks.forget_offers])
    desk = AdminDesk(settings.ADMIN_IDS, balance, stats, AuditLog(), offers)
    desk.forget_links = cache.clear  # a ban reaches the redirect at once
    return _wire(
        Services(
            outbox=outbox,
            sender=sender,
            race_news=RaceNews(bot, i18n, redis, races, outbox, settings.RACE_NEWS_COOLDOWN),
            lease=Lease(redis, ttl=settings.LEASE_SECONDS),
            poller=Lease(redis, name="poller", ttl=settings.LEASE_SECONDS),
            affiliates=affiliates,
            links=LinkService(),
            referrals=referrals,
            offers=offers,
            clicks=ClickService(spool, urls, salt.digest(), cache),
            click_loader=click_loader,
            races=races,
            conversions=conversions,
            postbacks=postbacks,
            channels=ChannelService(conversions),
            balance=balance,
            stats=stats,
            notifier=Notifier(
                i18n,
                redis,
                affiliates,
                referrals,
                ConversionNotices(),
                outbox,
                sender,
                fold_delay=settings.REFERRAL_NOTIFY_DELAY,
            ),
            i18n=i18n,
            feed=RaceFeed(redis, settings.CHANNEL_PREFIX),
            tally=PostbackTally(redis, settings.CHANNEL_PREFIX),
            desk=desk,
            journal=PostbackJournal(settings.POSTBACK_LOG_PER_OFFER),
            tester=PostbackTester(lambda: settings.local_url),
            metrics=metrics,
            broadcasts=broadcasts,
            reporter=BroadcastReporter(bot, i18n, broadcasts),
            exports=ExportService(),
        )
    )


def _wire(services: Services) -> Services:
    services.race_news.flush_first = services.notifier.flush_pending
    return services


def create_dispatcher(settings: Settings, redis: Redis, services: Services) -> RetryingDispatcher:
    dp = RetryingDispatcher(
        storage=RedisStorage(redis),
        events_isolation=RedisEventIsolation(redis),
        settings=settings,
        affiliates=services.affiliates,
        links=services.links,
        referrals=services.referrals,
        offers=services.offers,
        notifier=services.notifier,
        conversions=services.conversions,
        channels=services.channels,
        balance=services.balance,
        stats=services.stats,
        races=services.races,
        feed=services.feed,
        desk=services.desk,
        journal=services.journal,
        tester=services.tester,
        broadcasts=services.broadcasts,
        reporter=services.reporter,
        sender=services.sender,
        exports=services.exports,
    )
    # Polling has no second delivery: an update that meets an outage is retried here. A
    # webhook answers 503 instead and Telegram sends the update again.
    dp.retry_for = 0.0 if settings.use_webhook else settings.UPDATE_RETRY_SECONDS
    dp.i18n = services.i18n
    dp.parked = ParkedUpdates(Path(settings.DATA_DIR) / "parked-updates.jsonl")
    dp.update.outer_middleware(MetricsMiddleware(services.metrics))
    dp.update.outer_middleware(UserMiddleware(services.affiliates, services.desk))
    UserI18nMiddleware(services.i18n).setup(dp)
    throttling = ThrottlingMiddleware(redis, settings.THROTTLE_RATE)
    bans = BanMiddleware()
    for observer in (dp.message, dp.callback_query, dp.inline_query):
        observer.outer_middleware(throttling)
        observer.outer_middleware(bans)
    dp.include_routers(*get_routers())
    return dp


async def resolve_bot_identity(bot: Bot, settings: Settings, services: Services) -> None:
    """Learn the bot's username (getMe) so that links can be built."""
    me = await bot.me()
    services.clicks.urls = LinkUrls(
        settings.PUBLIC_URL, me.username or "", settings.MINIAPP_SHORT_NAME
    )


def create_scheduler_for(settings: Settings, services: Services) -> Scheduler:
    return create_scheduler(
        lease=services.lease,
        notifier=services.notifier,
        conversions=services.conversions,
        races=services.races,
        race_news=services.race_news,
        sender=services.sender,
        feed=services.feed,
        tick_seconds=settings.RACE_TICK_SECONDS,
        metrics=services.metrics,
        reporter=services.reporter,
    )


def create_app(
    settings: Settings, bot: Bot, dp: Dispatcher, redis: Redis, services: Services
) -> web.Application:
    return create_web_app(
        settings,
        services.click_loader,
        services.postbacks,
        redis,
        bot,
        dp,
        ApiDeps(
            settings=settings,
            bot=bot,
            i18n=services.i18n,
            affiliates=services.affiliates,
            referrals=services.referrals,
            links=services.links,
            clicks=services.clicks,
            channels=services.channels,
            stats=services.stats,
            races=services.races,
            balance=services.balance,
            notifier=services.notifier,
            tally=services.tally,
            feed=services.feed,
            desk=services.desk,
            journal=services.journal,
            metrics=services.metrics,
            outbox=services.outbox,
            lease=services.lease,
            poller=services.poller,
        ),
    )
