"""Property tests: random input never makes a parser raise anything but the domain's own
refusal (InvalidInput, a refused Answer, None), and whatever a parser accepts is within the bounds
the database and Telegram can hold."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiogram.filters import CommandObject
from aiogram.filters.callback_data import CallbackData
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import InvalidInput
from bot.services.amounts import MAX_MINOR, check_currency, to_minor
from bot.services.balance import check_details
from bot.services.codes import CODE_RE, LABEL_RE, new_code, parse_payload
from bot.services.conversions import Answer, Refusal
from bot.services.inputs import INT32_MAX, TG_ID_MAX, ascii_int, tg_id
from bot.services.offers import (
    check_chat_id,
    check_int,
    check_ips,
    check_percent,
    check_target_url,
    check_title,
)
from bot.services.postbacks import TXID_RE, Fields, authenticate, read_fields, sign
from bot.services.zones import zone
from handlers.admin.parsing import (
    leading_id,
    parse_offer_command,
    parse_prizes,
    parse_score,
    parse_when,
)
from keyboards import callbacks
from models import Offer

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 12, 1, tzinfo=UTC)

# Text that tends to find the cracks: digits of other scripts, control characters, signs.
TRICKY = st.sampled_from(
    [
        "",
        "\n",
        "\x00",
        " ",
        "²",
        "١٢",
        "٣",
        "-",
        "+",
        ".",
        ",",
        "e5",
        "1e309",
        "NaN",
        "inf",
        "\u212a",
        "9" * 25,
        "0",
        "00",
        "_",
        "%",
        "/",
        ":",
        "=",
        ";",
        "é",
        "🙂",
        "\r\n",
        "\t",
    ]
)
TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(TRICKY, st.text(max_size=6)), max_size=8).map("".join),
)


def refuses_politely(parse: Callable[[str], Any], raw: str) -> Any:
    try:
        return parse(raw)
    except InvalidInput:
        return None


# -- the postback -----------------------------------------------------------------------------

OFFER = cast(
    Offer,
    SimpleNamespace(
        id=1,
        currency="USD",
        status_map={"paid": "approved"},
        secret="s3cret",
        secret_previous="old",
        token="tok",
    ),
)
NAMES = [
    "click_id",
    "code",
    "sub",
    "event",
    "amount",
    "currency",
    "status",
    "txid",
    "tg_user_id",
    "ts",
    "sig",
    "token",
]
NEAR = {
    "click_id": ["ab" * 16, "AB" * 16, "ab" * 16 + "\n"],
    "code": [new_code(), new_code().upper(), new_code() + "\n"],
    "amount": ["10.00", "0", "1" * 15, "10,00"],
    "currency": ["USD", "usd", "EUR"],
    "status": ["approved", "paid", "PAID", "pending"],
    "ts": [str(int(time.time())), "²"],
}
PARAMS = st.dictionaries(
    st.one_of(st.sampled_from(NAMES), st.text(max_size=10)),
    st.one_of(TEXT, st.sampled_from([v for values in NEAR.values() for v in values])),
    max_size=12,
)


@PROPERTY
@given(PARAMS)
def test_postback_fields_never_raise_and_stay_within_bounds(params: dict[str, str]) -> None:
    result = read_fields(OFFER, params)

    assert isinstance(result, (Fields, Answer))
    if isinstance(result, Fields):
        assert TXID_RE.fullmatch(result.txid)
        assert 0 <= result.amount_minor <= MAX_MINOR
        assert result.converter is None or 0 < result.converter <= TG_ID_MAX
        ref = result.reference
        assert ref.click_id is None or len(ref.click_id) == 32
        assert ref.code is None or CODE_RE.fullmatch(ref.code)
        assert ref.sub is None or LABEL_RE.fullmatch(ref.sub)
    else:
        assert result.refusal in (Refusal.INVALID, Refusal.UNKNOWN) and result.reason


@PROPERTY
@given(PARAMS, st.booleans())
def test_postback_authentication_never_raises(params: dict[str, str], sign_it: bool) -> None:
    if sign_it:
        params = {**params, "ts": str(int(time.time()))}
        params["sig"] = sign(params, "s3cret")

    result = authenticate(OFFER, params, time.time())

    assert result is None or (
        isinstance(result, Answer) and result.refusal is Refusal.UNAUTHENTICATED
    )
    if sign_it:
        assert result is None  # whatever the other parameters hold, a right signature passes


# -- buttons ----------------------------------------------------------------------------------

FACTORIES = [
    cls
    for cls in vars(callbacks).values()
    if isinstance(cls, type) and issubclass(cls, CallbackData) and cls is not CallbackData
]


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda c: c.__name__)
@PROPERTY
@given(
    parts=st.lists(st.one_of(TEXT, st.sampled_from(["s", "0", "1", "-1", "9" * 20])), max_size=5)
)
def test_callback_data_unpacks_to_bounded_values_or_is_refused(
    factory: type[CallbackData], parts: list[str]
) -> None:
    data = ":".join([factory.__prefix__, *parts])  # type: ignore[attr-defined]

    try:
        unpacked = factory.unpack(data)
    except (ValueError, TypeError):  # what aiogram's filter treats as "not this button"
        return

    for value in unpacked.model_dump().values():
        if isinstance(value, int) and not isinstance(value, bool):
            assert 0 <= value <= INT32_MAX
        if isinstance(value, str):
            assert len(value) <= 32 and "\n" not in value and "\x00" not in value
    assert factory.unpack(unpacked.pack()) == unpacked


# -- deep links and what admins type ----------------------------------------------------------


@PROPERTY
@given(TEXT)
def test_deep_link_payload_is_ours_or_none(raw: str) -> None:
    payload = parse_payload(raw)

    assert payload is None or (
        CODE_RE.fullmatch(payload.code)
        and (payload.sub is None or LABEL_RE.fullmatch(payload.sub))
    )


PARSERS: dict[str, Callable[[str], Any]] = {
    "ascii_int": ascii_int,
    "tg_id": tg_id,
    "leading_id": lambda r: leading_id(CommandObject(command="x", args=r), "bad"),
    "to_minor": lambda r: to_minor(r, "USD"),
    "to_minor_jpy": lambda r: to_minor(r, "JPY"),
    "check_currency": check_currency,
    "check_int": lambda r: check_int(r, 0, 365),
    "check_percent": check_percent,
    "check_chat_id": check_chat_id,
    "check_title": check_title,
    "check_target_url": check_target_url,
    "check_ips": check_ips,
    "check_details": check_details,
    "offer_add": parse_offer_command,
    "zone": zone,
    "parse_when": lambda r: parse_when(r, NOW, "UTC"),
    "parse_when_moscow": lambda r: parse_when(r, NOW, "Europe/Moscow", base=NOW),
    "parse_prizes": lambda r: parse_prizes(r, "USD"),
    "parse_score": lambda r: parse_score(r, False, "USD"),
    "parse_money_score": lambda r: parse_score(r, True, "EUR"),
}
WHEN = st.one_of(
    TEXT,
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{1,2}:[0-9]{2}( [A-Za-z/+:0-9-]{1,12})?"),
    st.from_regex(r"\+[0-9]{1,5} ?(m|min|h|d)"),
)


@pytest.mark.parametrize("name", sorted(PARSERS))
@PROPERTY
@given(raw=st.one_of(WHEN, st.from_regex(r"[0-9]{1,3}=[0-9., a-zA-Z]{0,12}(; ?[0-9]=[0-9a-z]*)*")))
def test_admin_argument_parsers_accept_or_refuse_politely(name: str, raw: str) -> None:
    result = refuses_politely(PARSERS[name], raw)

    if isinstance(result, int):
        assert abs(result) <= max(MAX_MINOR, TG_ID_MAX, 10**16)
    if isinstance(result, datetime):
        assert result.tzinfo is not None and result.utcoffset() == NOW.utcoffset()
