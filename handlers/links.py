"""My links: the own bot link, one per offer, QR codes and sub-links."""

from __future__ import annotations

from html import escape

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.errors import N_, NotFound
from bot.services.channels import ChannelService
from bot.services.links import MAX_SUBLINKS, LinkService, LinkUrls, LinkView, SubCounts
from bot.services.qr import qr_png
from handlers.common import link_urls, share_url, show, url_line
from keyboards.callbacks import LinkAction, LinkCallback, MenuAction, MenuCallback
from keyboards.links import cancel_kb, confirm_remove_kb, link_card_kb, links_kb, sublinks_kb
from models import Affiliate, OfferKind


class SubLinkForm(StatesGroup):
    label = State()


def _title(view: LinkView) -> str:
    return escape(view.title) if view.title else _("My bot link")


def _counts_line(c: SubCounts) -> str:
    return _("clicks {clicks} · unique {unique} · referrals {referrals}").format(
        clicks=c.clicks, unique=c.unique_clicks, referrals=c.referrals
    )


async def open_links(
    query: CallbackQuery,
    user: Affiliate,
    links: LinkService,
    bot: Bot,
    settings: Settings,
    channels: ChannelService,
) -> None:
    urls = await link_urls(bot, settings)
    base = await links.base_link(user)
    offers = await links.offer_links(user)
    lines = [
        _("🔗 <b>Your links</b>"),
        "",
        _("🤖 Your bot link: whoever starts the bot through it becomes your referral."),
        f"<code>{urls.for_link(base.code, None)}</code>",
        "",
    ]
    if offers:
        lines.append(_("<b>Offers</b>"))
        for view in offers:
            lines.append(f"• <b>{escape(view.title or '')}</b>")
            lines.append(await url_line(view, urls, bot, channels))
        lines.append("")
        lines.append(_("Tap a link for its QR code, a share card and its numbers."))
    else:
        lines.append(_("No offers are running right now; your bot link works all the same."))
    await show(query, "\n".join(lines), links_kb([(v.link_id, v.title or "") for v in offers]))


def link_card_text(view: LinkView, urls: LinkUrls, counts: list[SubCounts], main_line: str) -> str:
    lines = [f"🔗 <b>{_title(view)}</b>", main_line]
    if view.kind is OfferKind.CHANNEL:
        counts = counts[:1]  # an invite link has no labelled variants
    if counts:
        lines.append(_counts_line(counts[0]))
    for c in counts[1:]:
        lines += ["", f"🏷 <b>{escape(c.label or '')}</b>"]
        lines.append(f"<code>{urls.for_link(view.code, view.kind, c.label)}</code>")
        lines.append(_counts_line(c))
    return "\n".join(lines)


async def open_link(
    query: CallbackQuery,
    callback_data: LinkCallback,
    user: Affiliate,
    links: LinkService,
    bot: Bot,
    settings: Settings,
    channels: ChannelService,
) -> None:
    view = await links.own_link(user, callback_data.link_id)
    counts = await links.counts(user, view.link_id)
    urls = await link_urls(bot, settings)
    text = link_card_text(view, urls, counts, await url_line(view, urls, bot, channels))
    await show(query, text, link_card_kb(callback_data.link_id, view.code))


async def send_qr(
    query: CallbackQuery,
    callback_data: LinkCallback,
    user: Affiliate,
    links: LinkService,
    bot: Bot,
    settings: Settings,
    channels: ChannelService,
) -> None:
    view = await links.own_link(user, callback_data.link_id)
    url = await share_url(view, await link_urls(bot, settings), bot, channels)
    if url is None:
        raise NotFound(
            N_("The invite link is not ready: the bot must be an admin of the channel.")
        )
    await query.answer()
    async with ChatActionSender.upload_photo(bot=bot, chat_id=user.tg_id):  # while it draws
        photo = BufferedInputFile(await qr_png(url), filename=f"{view.code}.png")
        await bot.send_photo(user.tg_id, photo, caption=f"{_title(view)}\n{url}")


async def sublinks_text(user: Affiliate, links: LinkService) -> tuple[str, list[str]]:
    labels = await links.sublinks(user)
    lines = [
        _("🏷 <b>Sub-links</b>"),
        "",
        _(
            "A sub-link is your link with a label, e.g. youtube, so you can see which source "
            "brings people. Every one of your links gets each label."
        ),
        "",
    ]
    if labels:
        lines += [f"• <code>{escape(label)}</code>" for label in labels]
    else:
        lines.append(_("You have no sub-links yet."))
    return "\n".join(lines), labels


async def open_sublinks(
    query: CallbackQuery, user: Affiliate, links: LinkService, state: FSMContext
) -> None:
    await state.clear()
    text, labels = await sublinks_text(user, links)
    await show(query, text, sublinks_kb(labels, can_add=len(labels) < MAX_SUBLINKS))


async def ask_label(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(SubLinkForm.label)
    text = _(
        "Send me the label for the new sub-link: latin letters, digits and dashes, "
        "e.g. <code>youtube</code> or <code>channel-a</code>."
    )
    await show(query, text, cancel_kb())


async def add_sublink(
    message: Message, user: Affiliate, links: LinkService, state: FSMContext
) -> None:
    label = await links.add_sublink(user, message.text or "")  # InvalidInput -> errors router
    await state.clear()
    text, labels = await sublinks_text(user, links)
    text = _("✅ Sub-link {label} added.").format(label=f"<code>{label}</code>") + "\n\n" + text
    await message.answer(text, reply_markup=sublinks_kb(labels, len(labels) < MAX_SUBLINKS))


async def label_not_text(message: Message) -> None:
    await message.answer(_("Please send the label as text."), reply_markup=cancel_kb())


async def cancel_label(
    query: CallbackQuery, user: Affiliate, links: LinkService, state: FSMContext
) -> None:
    await open_sublinks(query, user, links, state)


async def confirm_remove(query: CallbackQuery, callback_data: LinkCallback) -> None:
    text = _(
        "Remove the sub-link {label}? Its past numbers stay in your stats; new visits "
        "through it will count for the plain link."
    ).format(label=f"<code>{escape(callback_data.label)}</code>")
    await show(query, text, confirm_remove_kb(callback_data.label))


async def remove_sublink(
    query: CallbackQuery, callback_data: LinkCallback, user: Affiliate, links: LinkService
) -> None:
    await links.remove_sublink(user, callback_data.label)  # NotFound -> errors router
    text, labels = await sublinks_text(user, links)
    await show(query, text, sublinks_kb(labels, can_add=len(labels) < MAX_SUBLINKS))


def router() -> Router:
    """This feature's router, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.callback_query.register(open_links, MenuCallback.filter(F.action == MenuAction.LINKS))
    r.callback_query.register(open_link, LinkCallback.filter(F.action == LinkAction.SHOW))
    r.callback_query.register(send_qr, LinkCallback.filter(F.action == LinkAction.QR))
    r.callback_query.register(open_sublinks, LinkCallback.filter(F.action == LinkAction.SUBS))
    r.callback_query.register(ask_label, LinkCallback.filter(F.action == LinkAction.SUB_ADD))
    r.message.register(add_sublink, SubLinkForm.label, F.text)
    r.message.register(label_not_text, StateFilter(SubLinkForm.label))
    r.callback_query.register(cancel_label, LinkCallback.filter(F.action == LinkAction.CANCEL))
    r.callback_query.register(confirm_remove, LinkCallback.filter(F.action == LinkAction.SUB_DEL))
    r.callback_query.register(
        remove_sublink, LinkCallback.filter(F.action == LinkAction.SUB_DEL_OK)
    )
    return r
