"""Every validator, fed the inputs that slipped through before: a trailing newline (Python's `$`
matches before one), a NUL (PostgreSQL refuses it in text), digits of another script
(`\\d`, `isdigit()` and `int()` take them) and an over-long value.

A validator of what a machine sends (a postback, a URL, a button) refuses all four. One of
what a person types may drop surrounding whitespace, so a trailing newline gives exactly the
clean value, never a different one; it refuses the other three.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiogram.filters import CommandObject
from pydantic import ValidationError

from bot.config import Settings
from bot.errors import InvalidInput
from bot.services.amounts import to_minor
from bot.services.balance import check_details
from bot.services.codes import check_label, new_code, normalize_label, parse_payload, read_code
from bot.services.conversions import Answer, Refusal
from bot.services.inputs import ascii_int, clean_header, tg_id
from bot.services.offers import (
    check_chat_id,
    check_int,
    check_percent,
    check_target_url,
    check_title,
)
from bot.services.postbacks import authenticate, read_fields, sign
from bot.services.zones import zone
from handlers.admin.parsing import leading_id, parse_prizes, parse_score, parse_when
from models import Offer

# A code with a digit in it, so the other-script digits case always runs for codes (a random
# code without one left that case out of the run now and then).
CODE = next(c for c in iter(new_code, None) if any(ch.isdigit() for ch in c))
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REFUSED = object()  # the validator said no (None, or InvalidInput)


def outcome(fn: Callable[[str], Any], raw: str) -> Any:
    try:
        value = fn(raw)
    except InvalidInput:
        return REFUSED
    return REFUSED if value is None else value


def other_digits(text: str) -> str:
    """The same text with its ASCII digits written in Arabic-Indic digits."""
    return text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


# name, validator, a valid input and what it gives, an over-long input, strict?
CASES: list[tuple[str, Callable[[str], Any], str, Any, str, bool]] = [
    ("ascii_int", ascii_int, "42", 42, "9" * 11, True),
    ("tg_id", tg_id, "123456789", 123456789, "9" * 20, True),
    ("read_code", read_code, CODE, CODE, CODE * 2, True),
    ("check_label", check_label, "youtube", "youtube", "a" * 33, True),
    ("payload", parse_payload, CODE, parse_payload(CODE), CODE + "_" + "a" * 60, True),
    ("to_minor", lambda r: to_minor(r, "USD"), "12.50", 1250, "1" * 16, True),
    ("zone", zone, "Europe/Moscow", zone("Europe/Moscow"), "Europe/" + "a" * 300, True),
    ("normalize_label", normalize_label, "youtube", "youtube", "a" * 33, False),
    ("check_int", lambda r: check_int(r, 0, 365), "30", 30, "3" * 40, False),
    ("check_percent", check_percent, "12.5", 1250, "1" * 40, False),
    ("check_chat_id", check_chat_id, "-1001234567890", -1001234567890, "-100" + "1" * 30, False),
    ("check_title", check_title, "Shop 24", "Shop 24", "x" * 129, False),
    ("check_target_url", check_target_url, "https://a.test/1", "https://a.test/1", "x", False),
    ("check_details", check_details, "IBAN 12", "IBAN 12", "x" * 513, False),
    (
        "parse_when",
        lambda r: parse_when(r, NOW, "UTC"),
        "2026-12-24 18:00",
        None,
        "+99999d",
        False,
    ),
    (
        "parse_prizes",
        lambda r: parse_prizes(r, "USD"),
        "1=100 Cup",
        [(1, "Cup", 10000)],
        "",
        False,
    ),
    ("parse_score", lambda r: parse_score(r, False, "USD"), "5", 5, "5" * 13, False),
]


@pytest.mark.parametrize(
    ("validator", "valid", "expected"),
    [pytest.param(c[1], c[2], c[3], id=c[0]) for c in CASES if c[3] is not None],
)
def test_validator_takes_the_valid_input(validator: Any, valid: str, expected: Any) -> None:
    assert outcome(validator, valid) == expected


@pytest.mark.parametrize(
    ("validator", "valid", "strict"), [pytest.param(c[1], c[2], c[5], id=c[0]) for c in CASES]
)
def test_validator_trailing_newline_is_refused_or_is_the_same_value(
    validator: Any, valid: str, strict: bool
) -> None:
    got = outcome(validator, valid + "\n")

    if strict:
        assert got is REFUSED
    else:
        assert got == outcome(validator, valid)


@pytest.mark.parametrize(
    ("validator", "valid"), [pytest.param(c[1], c[2], id=c[0]) for c in CASES]
)
def test_validator_refuses_a_nul(validator: Any, valid: str) -> None:
    assert outcome(validator, valid + "\x00") is REFUSED
    assert outcome(validator, valid[:1] + "\x00" + valid[1:]) is REFUSED


FREE_TEXT = {"check_title", "check_target_url", "check_details"}  # any script's digits are text


@pytest.mark.parametrize(
    ("validator", "valid"),
    [
        pytest.param(c[1], c[2], id=c[0])
        for c in CASES
        if other_digits(c[2]) != c[2] and c[0] not in FREE_TEXT
    ],
)
def test_validator_refuses_digits_of_another_script(validator: Any, valid: str) -> None:
    assert outcome(validator, other_digits(valid)) is REFUSED
    assert outcome(validator, valid.replace("1", "¹").replace("2", "²")) in (
        REFUSED,
        outcome(validator, valid),  # nothing was replaced
    )


@pytest.mark.parametrize(
    ("validator", "too_long"), [pytest.param(c[1], c[4], id=c[0]) for c in CASES if c[4]]
)
def test_validator_refuses_an_over_long_value(validator: Any, too_long: str) -> None:
    assert outcome(validator, too_long) is REFUSED


def test_look_alike_letters_do_not_become_a_code_or_a_label() -> None:
    kelvin = "\u212a"  # KELVIN SIGN: its lower() is the ASCII letter k

    assert read_code(kelvin + CODE[1:]) is None
    assert check_label(kelvin + "ids") is None
    assert normalize_label(kelvin + "ids") is None


def test_header_text_is_made_storable() -> None:
    undecodable = b"Mozilla/5.0 \xff\xfe".decode("utf-8", "surrogateescape")

    assert clean_header("Mozilla/5.0 (X11)", 256) == "Mozilla/5.0 (X11)"
    assert clean_header(undecodable, 256) == "Mozilla/5.0 \ufffd\ufffd"
    assert clean_header("a\x00b\x1bc", 256) == "a\ufffdb\ufffdc"
    assert len(clean_header("é" * 1000, 256)) == 256


@pytest.mark.parametrize("raw", ["12", "12\n", "12 rest", "  12  "])
def test_leading_id_reads_ascii_digits(raw: str) -> None:
    assert leading_id(CommandObject(command="race_cancel", args=raw), "x")[0] == 12


@pytest.mark.parametrize("raw", ["²", "١", "12\x00", "9" * 20, "-1", "", "1.5"])
def test_leading_id_refuses_anything_else_politely(raw: str) -> None:
    with pytest.raises(InvalidInput):
        leading_id(CommandObject(command="race_cancel", args=raw), "x")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOT_TOKEN", "123456:" + "A" * 35 + "\n"),
        ("BOT_TOKEN", "١٢٣٤٥٦:" + "A" * 35),
        ("ADMIN_IDS", "١٢٣"),
        ("ADMIN_IDS", "9" * 20),
        ("WEBHOOK_URL", "https://bot.example/webhook\n"),
        ("MINIAPP_SHORT_NAME", "app\n"),
    ],
)
def test_settings_refuse_what_a_stricter_reading_would(name: str, value: str) -> None:
    values = {"BOT_TOKEN": "123456:" + "A" * 35, "WEBHOOK_SECRET": "s", name: value}

    with pytest.raises(ValidationError):
        Settings(_env_file=None, **values)  # type: ignore[call-arg]


# -- the postback's parameters --------------------------------------------------------------

OFFER = cast(
    Offer,
    SimpleNamespace(
        id=1, currency="USD", status_map={}, secret="s3cret", secret_previous=None, token="tok"
    ),
)
GOOD = {
    "click_id": "ab" * 16,
    "event": "deposit",
    "amount": "10.00",
    "currency": "USD",
    "status": "approved",
    "txid": "SAME-1",
    "tg_user_id": "123456",
}


def test_postback_fields_take_the_valid_ones() -> None:
    fields = read_fields(OFFER, GOOD)

    assert not isinstance(fields, Answer)
    assert (fields.txid, fields.event, fields.amount_minor, fields.converter) == (
        "SAME-1",
        "deposit",
        1000,
        123456,
    )


@pytest.mark.parametrize("name", sorted(GOOD))
@pytest.mark.parametrize(
    "spoil",
    [
        lambda v: v + "\n",
        lambda v: v + "\x00",
        lambda v: v[:1] + "\x00" + v[1:],
        lambda v: v + "x" * 200,
    ],
    ids=["newline", "nul-end", "nul-inside", "over-long"],
)
def test_postback_field_spoilt_is_a_400_that_names_it(name: str, spoil: Any) -> None:
    result = read_fields(OFFER, {**GOOD, name: spoil(GOOD[name])})

    assert isinstance(result, Answer)
    assert result.refusal is Refusal.INVALID
    assert name.split("_")[0] in (result.reason or "")


@pytest.mark.parametrize("name", ["amount", "tg_user_id"])
@pytest.mark.parametrize("digits", [other_digits, lambda v: v.replace("1", "¹")])
def test_postback_numbers_in_other_digits_are_a_400(name: str, digits: Any) -> None:
    result = read_fields(OFFER, {**GOOD, name: digits(GOOD[name])})

    assert isinstance(result, Answer) and result.refusal is Refusal.INVALID


def test_postback_tg_user_id_past_64_bits_is_a_400() -> None:
    result = read_fields(OFFER, {**GOOD, "tg_user_id": "9" * 20})

    assert isinstance(result, Answer) and result.refusal is Refusal.INVALID


def signed(**params: str) -> dict[str, str]:
    params.setdefault("ts", str(int(time.time())))
    params["sig"] = sign(params, "s3cret")
    return params


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"ts": "²"}, "ts must be unix seconds"),
        ({"ts": other_digits(str(int(time.time())))}, "ts must be unix seconds"),
        ({"ts": str(int(time.time())) + "\n"}, "ts must be unix seconds"),
        ({"ts": "9" * 40}, "ts must be unix seconds"),
    ],
)
def test_postback_ts_must_be_ascii_unix_seconds(params: dict[str, str], reason: str) -> None:
    result = authenticate(OFFER, signed(**GOOD, **params), time.time())

    assert result is not None and (result.refusal, result.reason) == (
        Refusal.UNAUTHENTICATED,
        reason,
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: {**p, "sig": "é" * 64},
        lambda p: {**p, "sig": p["sig"] + "\n"},
        lambda p: {**p, "sig": "\x00" + p["sig"][1:]},
        lambda p: {**{k: v for k, v in p.items() if k not in ("sig", "ts")}, "token": "tök"},
        lambda p: {**{k: v for k, v in p.items() if k not in ("sig", "ts")}, "token": "tok\n"},
    ],
    ids=["non-ascii-sig", "sig-newline", "sig-nul", "non-ascii-token", "token-newline"],
)
def test_postback_odd_signatures_are_401_not_a_crash(tamper: Any) -> None:
    assert authenticate(OFFER, signed(**GOOD), time.time()) is None

    result = authenticate(OFFER, tamper(signed(**GOOD)), time.time())

    assert result is not None and result.refusal is Refusal.UNAUTHENTICATED
