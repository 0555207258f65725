"""Exact money: integer minor units stored, Decimal at the edges, never float."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.numbers import format_currency, get_currency_precision, list_currencies, parse_pattern

from bot.errors import N_, InvalidInput

# Whole-string patterns (fullmatch), ASCII digits only.
AMOUNT_RE = re.compile(r"[0-9]{1,15}(?:[.,][0-9]{1,8})?")
DOT_AMOUNT_RE = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,8})?")
MAX_MINOR = 10**15  # ten trillion dollars in cents: far above any real amount, far below 2**63
# ISO 4217 also lists funds, metals and test codes that nobody is paid in.
NOT_MONEY = {
    "XXX",
    "XTS",
    "XAU",
    "XAG",
    "XPT",
    "XPD",
    "XDR",
    "XSU",
    "XUA",
    "XBA",
    "XBB",
    "XBC",
    "XBD",
}
CURRENCIES = frozenset(list_currencies()) - NOT_MONEY


def check_currency(raw: str) -> str:
    code = raw.strip().upper()
    if code not in CURRENCIES:
        raise InvalidInput(
            N_("{code} is not a currency code I know (try USD, EUR, RUB)."), code=raw[:8]
        )
    return code


def to_minor(raw: str, currency: str, comma: bool = True) -> int:
    """'12.50' in USD -> 1250. Refuses negatives, junk, surrounding whitespace, more decimals
    than the currency has and absurd sizes; `comma=False` refuses the decimal comma too."""
    if not (AMOUNT_RE if comma else DOT_AMOUNT_RE).fullmatch(raw):
        raise InvalidInput(N_("{amount} is not an amount. Write it like 12.50"), amount=raw[:20])
    amount = Decimal(raw.replace(",", "."))
    precision = get_currency_precision(currency)
    try:
        minor = amount.scaleb(precision)
        if minor != minor.to_integral_value():
            raise InvalidOperation
    except InvalidOperation:
        raise InvalidInput(
            N_("{currency} has {digits} decimal places at most."),
            currency=currency,
            digits=precision,
        ) from None
    if minor > MAX_MINOR:
        raise InvalidInput(N_("{amount} is more than any amount I can take."), amount=raw[:20])
    return int(minor)


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-get_currency_precision(currency))


def format_money(minor: int, currency: str, locale: str = "en") -> str:
    return format_currency(from_minor(minor, currency), currency, locale=locale)


def format_percent(value: Decimal, locale: str = "en") -> str:
    """A percentage (12.5 for 12.5 %) with one decimal, as the locale writes it: "12.5%" in
    English, "12,5 %" in Russian."""
    where = Locale.parse(locale)
    pattern = parse_pattern(where.percent_formats[None].pattern)
    pattern.frac_prec = (1, 1)
    return pattern.apply(value / 100, where)
