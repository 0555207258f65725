"""Inline mode: @bot in any chat offers the affiliate's links as ready cards."""

from __future__ import annotations

from html import escape

from aiogram import Bot, Router
from aiogram.types import (
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultUnion,
    InputTextMessageContent,
)
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.channels import ChannelService
from bot.services.codes import check_label
from bot.services.links import LinkService
from handlers.common import link_urls, share_url
from keyboards.links import share_kb
from models import Affiliate, OfferKind


async def share_links(
    query: InlineQuery,
    user: Affiliate,
    links: LinkService,
    bot: Bot,
    settings: Settings,
    channels: ChannelService,
) -> None:
    urls = await link_urls(bot, settings)
    views = [await links.base_link(user), *await links.offer_links(user)]
    # "CODE" shares that link first; "CODE label" (the Mini App's Share of a sub-link) shares
    # the sub-link's URL, when the label is one of the affiliate's own.
    wanted, _sep, raw_label = query.query.strip().lower().partition(" ")
    label = check_label(raw_label.strip()) if raw_label.strip() else None
    if label is not None and not await links.has_sublink(user.id, label):
        label = None
    views.sort(key=lambda v: v.code != wanted)  # the shared one first
    results: list[InlineQueryResultUnion] = []
    for view in views[:20]:
        url = await share_url(view, urls, bot, channels)
        if url is None:
            continue
        if label is not None and view.code == wanted and view.kind is not OfferKind.CHANNEL:
            url = urls.for_link(view.code, view.kind, label)
        title = view.title or _("Join me here")
        card = _("👉 <b>{title}</b>\n{url}").format(title=escape(title), url=url)
        results.append(
            InlineQueryResultArticle(
                id=view.code,
                title=title,
                description=url,
                input_message_content=InputTextMessageContent(message_text=card),
                reply_markup=share_kb(url),
            )
        )
    await query.answer(results, cache_time=30, is_personal=True)


def router() -> Router:
    """This feature's router, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.inline_query.register(share_links)
    return r
