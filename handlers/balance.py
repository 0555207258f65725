"""Balance: available and pending per currency, the ledger history, and payout requests."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.errors import N_, InvalidInput
from bot.services.amounts import format_money
from bot.services.balance import BalanceService, HistoryItem, check_details
from bot.telegram.notifier import Notifier
from bot.telegram.render import ledger_what, viewer_zone
from handlers.common import show
from keyboards.balance import balance_kb, history_kb, payout_cancel_kb, payout_confirm_kb
from keyboards.callbacks import (
    BalanceAction,
    BalanceCallback,
    MenuAction,
    MenuCallback,
)
from models import Affiliate


class PayoutForm(StatesGroup):
    details = State()


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


def ledger_line(item: HistoryItem, locale: str, zone_name: str = "UTC") -> str:
    """ "2026-12-03 07:22 +$2.50 earning · Shop"."""
    sign = "+" if item.amount_minor > 0 else ""
    when = item.created_at.astimezone(viewer_zone(zone_name)).strftime("%Y-%m-%d %H:%M")
    money = format_money(item.amount_minor, item.currency, locale)
    return f"{when} {sign}{money} {ledger_what(item, escape)}"


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
    lines += [ledger_line(e, i18n.current_locale, user.timezone) for e in entries] or [
        _("No entries yet.")
    ]
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
    notifier: Notifier,
    settings: Settings,
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
    await notifier.payout_requested(payout, settings.ADMIN_IDS)


def router() -> Router:
    """Balance: the balances, the ledger history, and a payout request."""
    r = Router(name=__name__)
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
