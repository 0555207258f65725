"""Stats (periods, per offer and sub-link, a chart) and Balance (ledger, payout requests)."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.numbers import get_currency_precision

from bot.errors import N_, InvalidInput
from bot.services.balance import BalanceService, check_details
from bot.services.money import format_money
from bot.services.stats import Period, Row, StatsService, chart_png
from handlers.common import show
from keyboards.callbacks import (
    BalanceAction,
    BalanceCallback,
    MenuAction,
    MenuCallback,
    StatsCallback,
)
from keyboards.money import balance_kb, history_kb, payout_cancel_kb, payout_confirm_kb, stats_kb
from models import Affiliate, LedgerEntry


class PayoutForm(StatesGroup):
    details = State()


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
    try:
        period = Period(callback_data.period)
    except ValueError:
        raise InvalidInput(N_("This button is out of date.")) from None
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
    await show(query, "\n".join(lines), stats_kb(period.value))


async def send_chart(query: CallbackQuery, user: Affiliate, stats: StatsService) -> None:
    days = await stats.daily(user.id)
    currencies = await stats.currencies(user.id)
    currency = currencies[0] if currencies else "USD"
    png = chart_png(
        days,
        get_currency_precision(currency),
        (_("Last 30 days"), _("Earnings, {currency}").format(currency=currency), _("Conversions")),
    )
    if query.bot is not None:
        await query.bot.send_photo(
            user.tg_id,
            BufferedInputFile(png, "stats.png"),
            caption=_("📈 Earnings and conversions per day"),
        )
    await query.answer()


async def balance_text(
    user: Affiliate, balance: BalanceService, locale: str
) -> tuple[str, list[str]]:
    rows = await balance.balances(user.id)
    lines = [_("💰 <b>Balance</b>"), ""]
    payable = []
    if not rows:
        lines.append(_("Nothing earned yet. Share your links: approved conversions land here."))
    for b in rows:
        lines.append(
            _("{currency}: available <b>{available}</b>, pending {pending}").format(
                currency=b.currency,
                available=format_money(b.available_minor, b.currency, locale),
                pending=format_money(b.pending_minor, b.currency, locale),
            )
        )
        if b.available_minor >= balance.minimum_minor(b.currency):
            payable.append(b.currency)
    open_request = await balance.open_request(user.id)
    if open_request is not None:
        payable = []
        lines += [
            "",
            _("⏳ Your payout request of {amount} is waiting for review.").format(
                amount=format_money(open_request.amount_minor, open_request.currency, locale)
            ),
        ]
    elif rows and not payable:
        lines += [
            "",
            _("Payouts start from {minimum}.").format(
                minimum=format_money(
                    balance.minimum_minor(rows[0].currency), rows[0].currency, locale
                )
            ),
        ]
    return "\n".join(lines), payable


async def open_balance(
    query: CallbackQuery, user: Affiliate, balance: BalanceService, state: FSMContext, i18n: I18n
) -> None:
    await state.clear()
    text, payable = await balance_text(user, balance, i18n.current_locale)
    await show(query, text, balance_kb(payable))


def ledger_line(entry: LedgerEntry, locale: str) -> str:
    kinds = {
        "earning": _("earning"),
        "reversal": _("reversal"),
        "referral_share": _("referral share"),
        "payout": _("payout"),
        "payout_return": _("payout returned"),
        "adjustment": _("adjustment"),
        "prize": _("prize"),
    }
    sign = "+" if entry.amount_minor > 0 else ""
    when = entry.created_at.strftime("%Y-%m-%d")
    money = format_money(entry.amount_minor, entry.currency, locale)
    note = f" — {escape(entry.note)}" if entry.note else ""
    return f"{when} {sign}{money} {kinds.get(entry.kind.value, entry.kind.value)}{note}"


async def open_history(
    query: CallbackQuery,
    callback_data: BalanceCallback,
    user: Affiliate,
    balance: BalanceService,
    i18n: I18n,
) -> None:
    page = max(callback_data.page, 0)
    entries, more = await balance.history(user.id, page)
    lines = [_("📜 <b>History</b>"), ""]
    lines += [ledger_line(e, i18n.current_locale) for e in entries] or [_("No entries yet.")]
    await show(query, "\n".join(lines), history_kb(page, more))


async def ask_details(
    query: CallbackQuery, callback_data: BalanceCallback, state: FSMContext
) -> None:
    await state.set_state(PayoutForm.details)
    await state.update_data(currency=callback_data.currency[:3])
    await show(
        query,
        _(
            "Where should we send the money? Reply with your payout details (e.g. a wallet "
            "address or card holder and bank), up to 512 characters."
        ),
        payout_cancel_kb(),
    )


async def take_details(message: Message, state: FSMContext) -> None:
    details = check_details(message.text or "")
    data = await state.get_data()
    await state.update_data(details=details)
    await message.answer(
        _(
            "Request a payout of your whole available {currency} balance to:\n"
            "<code>{details}</code>"
        ).format(currency=data.get("currency", ""), details=escape(details)),
        reply_markup=payout_confirm_kb(str(data.get("currency", ""))),
    )


async def details_not_text(message: Message) -> None:
    await message.answer(
        _("Please send the payout details as text."), reply_markup=payout_cancel_kb()
    )


async def confirm_payout(
    query: CallbackQuery,
    callback_data: BalanceCallback,
    user: Affiliate,
    balance: BalanceService,
    state: FSMContext,
    i18n: I18n,
) -> None:
    data = await state.get_data()
    if not data.get("details") or data.get("currency") != callback_data.currency:
        raise InvalidInput(N_("This button is out of date."))
    payout = await balance.request_payout(user, callback_data.currency, str(data["details"]))
    await state.clear()
    text, payable = await balance_text(user, balance, i18n.current_locale)
    done = _("✅ Payout request #{id} for {amount} sent. An admin will review it.").format(
        id=payout.id,
        amount=format_money(payout.amount_minor, payout.currency, i18n.current_locale),
    )
    await show(query, done + "\n\n" + text, balance_kb(payable))


def router() -> Router:
    """This feature's router, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.callback_query.register(open_stats, MenuCallback.filter(F.action == MenuAction.STATS))
    r.callback_query.register(switch_period, StatsCallback.filter(~F.chart))
    r.callback_query.register(send_chart, StatsCallback.filter(F.chart))
    r.callback_query.register(open_balance, BalanceCallback.filter(F.action == BalanceAction.SHOW))
    r.callback_query.register(open_balance, MenuCallback.filter(F.action == MenuAction.BALANCE))
    r.callback_query.register(
        open_history, BalanceCallback.filter(F.action == BalanceAction.HISTORY)
    )
    r.callback_query.register(
        ask_details, BalanceCallback.filter(F.action == BalanceAction.PAYOUT)
    )
    r.message.register(take_details, PayoutForm.details, F.text)
    r.message.register(details_not_text, StateFilter(PayoutForm.details))
    r.callback_query.register(
        confirm_payout, BalanceCallback.filter(F.action == BalanceAction.CONFIRM)
    )
    return r
