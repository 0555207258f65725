"""What several routers share: the link URLs and invite links, the menu and help texts, and
editing a menu message in place. Routers import this, never each other."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from loguru import logger

from bot.config import Settings
from bot.services.channels import ChannelService, InviteNeed
from bot.services.charts import ChartError
from bot.services.links import LinkUrls, LinkView
from bot.services.stats import Period
from models import Affiliate, OfferKind


async def link_urls(bot: Bot, settings: Settings) -> LinkUrls:
    me = await bot.me()
    return LinkUrls(settings.PUBLIC_URL, me.username or "", settings.MINIAPP_SHORT_NAME)


def menu_text(user: Affiliate) -> str:
    return _("Hi, {name}! What would you like to do?").format(name=escape(user.display_name))


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit the menu message in place; send a new one if it is too old to edit."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:  # a double tap changes nothing
                raise
    elif query.bot is not None:
        await query.bot.send_message(query.from_user.id, text, reply_markup=markup)
    await query.answer()


def help_text() -> str:
    return _(
        "<b>How it works</b>\n\n"
        "1. Open <b>My links</b>: you get your own bot link at once, and a link for every "
        "offer.\n"
        "2. Share them: post the link, send its QR code, or type @ and this bot's name in any "
        "chat to share a ready card.\n"
        "3. Every click and every person who starts the bot through your link is counted for "
        "you. Add sub-links (e.g. youtube) to see which source works best.\n"
        "4. Compete in <b>Races</b> for prizes and watch your <b>Stats</b>.\n\n"
        "Commands: /menu, /language, /help"
    )


async def invite_link(bot: Bot, channels: ChannelService, link_id: int) -> str | None:
    """The affiliate's invite link to a channel offer, made on first use; None if it cannot be."""
    found = await channels.invite_for(link_id)
    if not isinstance(found, InviteNeed):
        return found
    try:
        made = await bot.create_chat_invite_link(found.chat_id, name=found.name)
    except (TelegramBadRequest, TelegramForbiddenError) as exc:
        logger.warning("cannot make an invite link in {}: {}", found.chat_id, exc.message)
        return None
    return await channels.save_invite(found, made.invite_link)


async def share_url(
    view: LinkView, urls: LinkUrls, bot: Bot, channels: ChannelService
) -> str | None:
    """The URL to share: a channel offer's is the affiliate's own invite link."""
    if view.kind is OfferKind.CHANNEL:
        return await invite_link(bot, channels, view.link_id)
    return urls.for_link(view.code, view.kind)


async def url_line(view: LinkView, urls: LinkUrls, bot: Bot, channels: ChannelService) -> str:
    url = await share_url(view, urls, bot, channels)
    if url is None:
        return _("The invite link is not ready: the bot must be an admin of the channel.")
    return f"<code>{url}</code>"


def period_name(period: Period) -> str:
    return {
        Period.TODAY: _("today"),
        Period.WEEK: _("the last 7 days"),
        Period.MONTH: _("the last 30 days"),
        Period.ALL: _("all time"),
    }[period]


def chart_labels(period: Period) -> Callable[[str], tuple[str, str, str]]:
    """The chart's title and legend, in the user's language."""

    def labels(currency: str) -> tuple[str, str, str]:
        return (
            _("Earnings and conversions, {period}").format(period=period_name(period)),
            _("Earnings, {currency}").format(currency=currency),
            _("Conversions"),
        )

    return labels


async def drawn(bot: Bot, user: Affiliate, chart: Awaitable[bytes]) -> bytes | None:
    """The chart's PNG; None, with a polite word to the user, when it cannot be drawn now."""
    try:
        return await chart
    except ChartError as exc:
        logger.warning("a chart for {} was not drawn: {}", user.tg_id, exc)
        await bot.send_message(
            user.tg_id, _("The chart cannot be drawn right now. Please try again in a minute.")
        )
        return None
