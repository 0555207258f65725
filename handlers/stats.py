"""Stats: today, 7 and 30 days and all time, per offer and sub-link, and a chart image."""

from __future__ import annotations

from html import escape

from aiogram import Bot, F, Router
from aiogram.types import BufferedInputFile, CallbackQuery
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.services.amounts import format_money, format_percent
from bot.services.stats import Period, Row, StatsService
from bot.telegram.render import viewer_zone
from handlers.common import chart_labels, drawn, period_name, show
from keyboards.callbacks import (
    MenuAction,
    MenuCallback,
    StatsCallback,
)
from keyboards.stats import stats_kb
from models import Affiliate


def _earned(row: Row, currency: str, locale: str) -> str:
    """What the slice earned, in each currency; zero as money too ("$0.00")."""
    if not row.earnings:
        return format_money(0, currency, locale)
    return ", ".join(format_money(v, c, locale) for c, v in sorted(row.earnings.items()))


def _epc(row: Row, locale: str) -> str:
    per_click = [
        format_money(e, c, locale) for c in sorted(row.earnings) if (e := row.epc(c)) is not None
    ]
    return ", ".join(per_click) or "—"


def _total_text(row: Row, currency: str, locale: str) -> list[str]:
    """The whole programme: one metric per line, readable on a phone."""
    rate = row.conversion_rate
    return [
        _("👆 Clicks: {clicks} (unique {unique})").format(
            clicks=row.clicks, unique=row.unique_clicks
        ),
        _("👥 Referrals: {referrals}").format(referrals=row.referrals),
        _("✅ Conversions: {conversions} · CR {rate}").format(
            conversions=row.conversions,
            rate=format_percent(rate, locale) if rate is not None else "—",
        ),
        _("💰 Earned: {earned} · EPC {epc}").format(
            earned=_earned(row, currency, locale), epc=_epc(row, locale)
        ),
    ]


def _slice_text(title: str, row: Row, currency: str, locale: str) -> str:
    """One offer or sub-link: its name, then its numbers on the next line."""
    numbers = _(
        "clicks {clicks} ({unique} unique) · referrals {referrals} · conversions "
        "{conversions} · {earned}"
    ).format(
        clicks=row.clicks,
        unique=row.unique_clicks,
        referrals=row.referrals,
        conversions=row.conversions,
        earned=_earned(row, currency, locale),
    )
    return f"{title}\n      {numbers}"


async def open_stats(
    query: CallbackQuery, user: Affiliate, stats: StatsService, i18n: I18n
) -> None:
    await render_stats(query, user, stats, Period.TODAY, i18n.current_locale)


async def switch_period(
    query: CallbackQuery,
    callback_data: StatsCallback,
    user: Affiliate,
    stats: StatsService,
    i18n: I18n,
) -> None:
    period = callback_data.period
    await render_stats(query, user, stats, period, i18n.current_locale)


async def render_stats(
    query: CallbackQuery, user: Affiliate, stats: StatsService, period: Period, locale: str
) -> None:
    report = await stats.report(user.id, period, viewer_zone(user.timezone))
    currency = report.currency
    lines = [
        _("📊 <b>Your numbers for {period}</b>").format(period=period_name(period)),
        "",
        *_total_text(report.total, currency, locale),
    ]
    if report.total.clicks or report.total.referrals or report.total.conversions:
        lines += ["", _("<b>By offer</b>")]
        for row in report.offers:
            title = escape(row.label) if row.label is not None else _("Bot link")
            lines.append(_slice_text(f"• <b>{title}</b>", row, currency, locale))
        if report.subs:
            lines += ["", _("<b>By sub-link</b>")]
            for row in report.subs:
                name = f"• <code>{escape(row.label or '')}</code>"
                lines.append(_slice_text(name, row, currency, locale))
    await show(query, "\n".join(lines), stats_kb(period))


async def send_chart(
    query: CallbackQuery,
    callback_data: StatsCallback,
    user: Affiliate,
    stats: StatsService,
    bot: Bot,
    i18n: I18n,
) -> None:
    """The chart of the period on the screen the button was pressed on."""
    await query.answer()
    period = callback_data.period
    async with ChatActionSender.upload_photo(bot=bot, chat_id=user.tg_id):  # while it draws
        png = await drawn(
            bot,
            user,
            stats.chart(
                user.id,
                period,
                chart_labels(period),
                i18n.current_locale,
                viewer_zone(user.timezone),
            ),
        )
        if png is None:
            return
        caption = (
            _("📈 Earnings and conversions per hour, today")
            if period is Period.TODAY
            else _("📈 Earnings and conversions per day, {period}").format(
                period=period_name(period)
            )
        )
        await bot.send_photo(user.tg_id, BufferedInputFile(png, "stats.png"), caption=caption)


def router() -> Router:
    """Stats: periods, per offer and sub-link, and the chart."""
    r = Router(name=__name__)
    r.callback_query.register(open_stats, MenuCallback.filter(F.action == MenuAction.STATS))
    r.callback_query.register(switch_period, StatsCallback.filter(~F.chart))
    r.callback_query.register(send_chart, StatsCallback.filter(F.chart))
    return r
