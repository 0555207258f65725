"""The panel's Postbacks: each offer's newest postbacks with their outcome (rejected ones
too, secrets masked), and a signed test postback sent through the real endpoint."""

from __future__ import annotations

from datetime import tzinfo
from html import escape

from aiogram import F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.dates import format_datetime
from tortoise.functions import Count

from bot.services.offers import OfferService
from bot.services.postback_log import LogLine, PostbackJournal
from bot.services.postback_test import PostbackTester
from bot.telegram.render import viewer_zone
from handlers.common import show
from keyboards.admin import postback_log_kb, postback_offers_kb
from keyboards.callbacks import AdminAction, AdminCallback
from models import Affiliate, PostbackLog

MARKS = {"stored": "✅", "duplicate": "♻️", "rejected": "⛔", "test": "🧪"}


def line_text(line: LogLine, zone: tzinfo, locale: str) -> str:
    at = format_datetime(line.at, "d MMM, HH:mm:ss", tzinfo=zone, locale=locale)
    params = " ".join(f"{k}={v}" for k, v in line.params.items())
    reason = f" · {escape(line.reason)}" if line.reason else ""
    return (
        f"{at} · {MARKS.get(line.result, '')} {line.result} {line.http_status}{reason}\n"
        f"    {escape(line.ip)} · <code>{escape(params)}</code>"
    )


async def open_postbacks(query: CallbackQuery, offers: OfferService) -> None:
    counts = {
        row["offer_id"]: row["n"]
        for row in await PostbackLog.all()
        .group_by("offer_id")
        .annotate(n=Count("id"))
        .values("offer_id", "n")
    }
    buttons = [(o.id, f"#{o.id} {o.title} ({counts.get(o.id, 0)})") for o in await offers.list()]
    buttons.append((0, _("❓ Unknown offers ({count})").format(count=counts.get(None, 0))))
    text = _("📬 <b>Postbacks</b>\n\nPick an offer to see what its advertiser sent, newest first.")
    await show(query, text, postback_offers_kb(buttons))


async def open_log(
    query: CallbackQuery,
    callback_data: AdminCallback,
    journal: PostbackJournal,
    offers: OfferService,
    user: Affiliate,
    i18n: I18n,
) -> None:
    offer_id = callback_data.id or None
    await journal.flush()  # what came in the last moment too
    lines, more = await journal.recent(offer_id, callback_data.page)
    if offer_id is None:
        head = _("📬 Postbacks to offers that do not exist, newest first")
    else:
        offer = await offers.get(offer_id)
        head = _("📬 Postbacks of #{id} {title}, newest first").format(
            id=offer.id, title=escape(offer.title)
        )
    zone = viewer_zone(user.timezone)
    body = [line_text(line, zone, i18n.current_locale) for line in lines]
    text = head + "\n\n" + ("\n".join(body) if body else _("Nothing has come in yet."))
    await show(query, text, postback_log_kb(callback_data.id, callback_data.page, more))


async def test_fire(
    query: CallbackQuery,
    callback_data: AdminCallback,
    tester: PostbackTester,
    journal: PostbackJournal,
    user: Affiliate,
) -> None:
    shot = await tester.fire(callback_data.id, user)
    await journal.flush()
    if shot.status is None:
        answer = _("Nothing answered: {error}").format(error=escape(shot.body))
    else:
        answer = _("Answer: {status} <code>{body}</code>").format(
            status=shot.status, body=escape(shot.body)
        )
    text = _(
        "🧪 <b>Test postback</b> sent to our endpoint, signed like the advertiser's (test=1: "
        "nothing is stored).\n\n<code>{url}</code>\n\n{answer}"
    ).format(url=escape(shot.url), answer=answer)
    await show(query, text, postback_log_kb(callback_data.id, 0, more=False))


def router() -> Router:
    """The panel's Postbacks (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.callback_query.register(
        open_postbacks, AdminCallback.filter(F.action == AdminAction.POSTBACKS)
    )
    r.callback_query.register(open_log, AdminCallback.filter(F.action == AdminAction.POSTBACK_LOG))
    r.callback_query.register(test_fire, AdminCallback.filter(F.action == AdminAction.TEST_FIRE))
    return r
