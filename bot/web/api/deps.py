"""What the Mini App's views call: the same services as the chat."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.utils.i18n import I18n
from aiohttp import web

from bot.config import Settings
from bot.lease import Lease
from bot.live import RaceFeed
from bot.metrics import Metrics
from bot.services.admin_desk import AdminDesk
from bot.services.affiliates import AffiliateService
from bot.services.balance import BalanceService
from bot.services.channels import ChannelService
from bot.services.clicks import ClickService
from bot.services.links import LinkService, LinkUrls
from bot.services.outbox import OutboxService
from bot.services.postback_log import PostbackJournal
from bot.services.races import RaceService
from bot.services.referrals import ReferralService
from bot.services.stats import StatsService
from bot.services.tally import PostbackTally
from bot.telegram.notifier import Notifier


@dataclass
class ApiDeps:
    settings: Settings
    bot: Bot
    i18n: I18n
    affiliates: AffiliateService
    referrals: ReferralService
    links: LinkService
    clicks: ClickService  # holds the link URLs, which learn the bot's name at start
    channels: ChannelService
    stats: StatsService
    races: RaceService
    balance: BalanceService
    notifier: Notifier
    tally: PostbackTally
    feed: RaceFeed
    desk: AdminDesk
    journal: PostbackJournal
    metrics: Metrics
    outbox: OutboxService
    lease: Lease
    poller: Lease

    @property
    def urls(self) -> LinkUrls:
        return self.clicks.urls


API = web.AppKey("api", ApiDeps)
