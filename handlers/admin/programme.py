"""The panel's Stats: the whole programme's numbers for today, 7 or 30 days (clicks,
referrals, conversions, revenue, commission, payouts), the top affiliates and offers, and a
chart image."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import BufferedInputFile, CallbackQuery
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.services.amounts import format_money
from bot.services.stats import Period, StatsService
from bot.telegram.admin_text import who
from bot.telegram.render import viewer_zone
from handlers.common import chart_labels, drawn, period_name, show
from keyboards.admin import programme_kb
from keyboards.callbacks import AdminAction, AdminCallback
from models import Affiliate

PERIODS = (Period.TODAY, Period.WEEK, Period.MONTH)
TOP = 5


def picked(callback_data: AdminCallback) -> Period:
    return PERIODS[min(callback_data.id, len(PERIODS) - 1)]


def amounts(by_currency: dict[str, int], locale: str) -> str:
    return ", ".join(format_money(m, c, locale) for c, m in sorted(by_currency.items())) or "0"


async def open_stats(
    query: CallbackQuery, callback_data: AdminCallback, stats: StatsService, i18n: I18n
) -> None:
    period, locale = picked(callback_data), i18n.current_locale
    report = await stats.report(None, period)
    money = await stats.programme(period)
    t = report.total
    lines = [
        _("📈 <b>Programme</b>, {period}").format(period=period_name(period)),
        "",
        _("Clicks: {n} ({unique} unique)").format(n=t.clicks, unique=t.unique_clicks),
        _("Referrals: {n}").format(n=t.referrals),
        _("Conversions: {n}").format(n=t.conversions),
        _("Revenue: {amount}").format(amount=amounts(money.revenue, locale)),
        _("Commission: {amount}").format(amount=amounts(money.commission, locale)),
        _("Payouts: {amount}").format(amount=amounts(money.payouts, locale)),
    ]
    if money.top_affiliates:
        lines += ["", _("<b>Top affiliates</b> (conversions)")]
        lines += [f"{i}. {who(a)} · {n}" for i, (a, n) in enumerate(money.top_affiliates, 1)]
    offers = sorted(report.offers, key=lambda r: (-r.conversions, -r.clicks))[:TOP]
    if offers:
        lines += ["", _("<b>Top offers</b> (conversions · clicks)")]
        lines += [
            f"{i}. {r.label or _('Bot link')} · {r.conversions} · {r.clicks}"
            for i, r in enumerate(offers, 1)
        ]
    names = [_("Today"), _("7 days"), _("30 days")]
    await show(query, "\n".join(lines), programme_kb(PERIODS.index(period), names))


async def send_chart(
    query: CallbackQuery,
    callback_data: AdminCallback,
    stats: StatsService,
    user: Affiliate,
    bot: Bot,
    i18n: I18n,
) -> None:
    period = picked(callback_data)
    await query.answer()
    async with ChatActionSender.upload_photo(bot=bot, chat_id=user.tg_id):
        png = await drawn(
            bot,
            user,
            stats.chart(
                None, period, chart_labels(period), i18n.current_locale, viewer_zone(user.timezone)
            ),
        )
        if png is None:
            return
        caption = _("📈 The programme's commission and conversions, {period}").format(
            period=period_name(period)
        )
        await bot.send_photo(user.tg_id, BufferedInputFile(png, "programme.png"), caption=caption)


def router() -> Router:
    """The panel's Stats (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.callback_query.register(open_stats, AdminCallback.filter(F.action == AdminAction.STATS))
    r.callback_query.register(
        send_chart, AdminCallback.filter(F.action == AdminAction.STATS_CHART)
    )
    return r
