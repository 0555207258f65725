"""Stats: today, 7 and 30 days and all time, per offer and sub-link, and a chart image."""

from __future__ import annotations

from html import escape

from aiogram import Bot, F, Router
from aiogram.types import BufferedInputFile, CallbackQuery
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.services.amounts import format_money
from bot.services.stats import Period, Row, StatsService
from handlers.common import show
from keyboards.callbacks import (
    MenuAction,
    MenuCallback,
    StatsCallback,
)
from keyboards.stats import stats_kb
from models import Affiliate


def _money(row: Row, locale: str) -> str:
    if not row.earnings:
        return "0"
    return ", ".join(format_money(v, c, locale) for c, v in sorted(row.earnings.items()))


def _row_text(row: Row, locale: str) -> str:
    rate = f"{row.conversion_rate}%" if row.conversion_rate is not None else "—"
    epc = (
        ", ".join(
            format_money(e, c, locale)
            for c in sorted(row.earnings)
            if (e := row.epc(c)) is not None
        )
        or "—"
    )
    return _(
        "clicks {clicks} (unique {unique}) · referrals {referrals} · conversions {conversions} "
        "· CR {rate} · earned {earned} · EPC {epc}"
    ).format(
        clicks=row.clicks,
        unique=row.unique_clicks,
        referrals=row.referrals,
        conversions=row.conversions,
        rate=rate,
        earned=_money(row, locale),
        epc=epc,
    )


def period_name(period: Period) -> str:
    return {
        Period.TODAY: _("today"),
        Period.WEEK: _("the last 7 days"),
        Period.MONTH: _("the last 30 days"),
        Period.ALL: _("all time"),
    }[period]


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
    report = await stats.report(user.id, period)
    lines = [
        _("📊 <b>Your numbers for {period}</b>").format(period=period_name(period)),
        "",
        _row_text(report.total, locale),
    ]
    if report.total.clicks or report.total.referrals or report.total.conversions:
        lines += ["", _("<b>By offer</b>")]
        lines += [f"• <b>{escape(r.label)}</b>: {_row_text(r, locale)}" for r in report.offers]
        if report.subs:
            lines += ["", _("<b>By sub-link</b>")]
            lines += [
                f"• <code>{escape(r.label)}</code>: {_row_text(r, locale)}" for r in report.subs
            ]
    await show(query, "\n".join(lines), stats_kb(period))


def chart_labels(currency: str) -> tuple[str, str, str]:
    return (
        _("Last 30 days"),
        _("Earnings, {currency}").format(currency=currency),
        _("Conversions"),
    )


async def send_chart(query: CallbackQuery, user: Affiliate, stats: StatsService, bot: Bot) -> None:
    await query.answer()
    async with ChatActionSender.upload_photo(bot=bot, chat_id=user.tg_id):  # while it draws
        png = await stats.chart(user.id, chart_labels)
        await bot.send_photo(
            user.tg_id,
            BufferedInputFile(png, "stats.png"),
            caption=_("📈 Earnings and conversions per day"),
        )


def router() -> Router:
    """Stats: periods, per offer and sub-link, and the chart."""
    r = Router(name=__name__)
    r.callback_query.register(open_stats, MenuCallback.filter(F.action == MenuAction.STATS))
    r.callback_query.register(switch_period, StatsCallback.filter(~F.chart))
    r.callback_query.register(send_chart, StatsCallback.filter(F.chart))
    return r
