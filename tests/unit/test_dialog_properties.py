"""Property tests of what people type into the dialogs and what the buttons carry, beyond
tests/unit/test_parser_properties.py: every button any of our keyboards can make fits
Telegram's 64 bytes and unpacks to itself; a deep link we hand out reads back as itself;
sub-link names, broadcast buttons and messages, the admin's offer, rate and race edits, and
the offer and race dialogs' steps accept within bounds or refuse politely."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from enum import Enum
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiogram.filters.callback_data import CallbackData
from annotated_types import Ge, Le, MaxLen, MinLen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import InvalidInput
from bot.services.broadcasts import (
    BUTTON_TEXT_MAX,
    BUTTONS_MAX,
    URL_MAX,
    check_message,
    parse_buttons,
)
from bot.services.codes import (
    ALPHABET,
    CODE_LENGTH,
    LABEL_RE,
    normalize_label,
    parse_payload,
    start_payload,
)
from bot.services.inputs import has_control
from bot.services.offers import OfferPatch, RateChange, check_kind
from bot.services.races.drafts import check_description
from handlers.admin import offer_form
from handlers.admin import races as race_form
from handlers.admin.parsing import (
    parse_offer_edit,
    parse_race_edit,
    parse_rate_change,
    parse_rate_target,
)
from keyboards import callbacks
from models import Offer, Race, RaceMetric
from tests.unit.test_parser_properties import TEXT

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FACTORIES = [
    cls
    for cls in vars(callbacks).values()
    if isinstance(cls, type) and issubclass(cls, CallbackData) and cls is not CallbackData
]


# -- buttons ----------------------------------------------------------------------------------


def field_values(annotation: Any, metadata: list[Any]) -> st.SearchStrategy[Any]:
    """Every value a CallbackData field admits, from its type and its pydantic constraints."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if annotation is bool:
        return st.booleans()
    bounds = {type(m): m for m in metadata}
    if annotation is int:
        low = bounds[Ge].ge if Ge in bounds else -(2**63)
        high = bounds[Le].le if Le in bounds else 2**63
        return st.integers(low, high)
    pattern = next(m.pattern for m in metadata if getattr(m, "pattern", None))
    shortest = bounds[MinLen].min_length if MinLen in bounds else 0
    longest = bounds[MaxLen].max_length if MaxLen in bounds else 64
    return st.from_regex(
        re.compile(pattern.removeprefix("^").removesuffix("$")), fullmatch=True
    ).filter(lambda s: shortest <= len(s) <= longest)


def instances(factory: type[CallbackData]) -> st.SearchStrategy[CallbackData]:
    fields = {
        name: field_values(field.annotation, field.metadata)
        for name, field in factory.model_fields.items()
    }
    return st.fixed_dictionaries(fields).map(lambda values: factory(**values))


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda c: c.__name__)
@PROPERTY
@given(data=st.data())
def test_every_button_we_can_make_fits_telegram_and_unpacks_to_itself(
    factory: type[CallbackData], data: st.DataObject
) -> None:
    button = data.draw(instances(factory))

    packed = button.pack()  # ValueError past Telegram's 64 bytes: a keyboard would fail

    assert len(packed.encode()) <= 64
    assert factory.unpack(packed) == button
    others = [f for f in FACTORIES if f is not factory]
    for other in others:  # no other factory takes it for one of its own
        with pytest.raises((ValueError, TypeError)):
            other.unpack(packed)


# -- deep links -------------------------------------------------------------------------------

CODES = st.text(alphabet=ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH)
LABELS = st.from_regex(LABEL_RE, fullmatch=True)


@PROPERTY
@given(CODES, st.none() | LABELS)
def test_a_deep_link_we_hand_out_reads_back_as_itself(code: str, sub: str | None) -> None:
    payload = start_payload(code, sub)

    parsed = parse_payload(payload)

    if len(payload) > 64:  # Telegram's limit: such a label is never handed out in a link
        assert parsed is None
    else:
        assert parsed is not None and (parsed.code, parsed.sub) == (code, sub)


# -- what people type -------------------------------------------------------------------------


@PROPERTY
@given(st.one_of(TEXT, LABELS, LABELS.map(lambda s: f"  {s.upper().replace('-', ' ')}\n")))
def test_a_sub_link_name_becomes_a_label_or_is_refused(raw: str) -> None:
    label = normalize_label(raw)

    assert label is None or (LABEL_RE.fullmatch(label) and normalize_label(label) == label)


BUTTON_LINES = st.lists(
    st.one_of(
        TEXT,
        st.tuples(TEXT, st.sampled_from([" - ", " — ", "-", " – "]), TEXT).map(
            lambda t: f"{t[0]}{t[1]}https://{t[2]}"
        ),
    ),
    max_size=8,
).map("\n".join)


@PROPERTY
@given(BUTTON_LINES)
def test_broadcast_buttons_are_bounded_or_refused_politely(raw: str) -> None:
    try:
        buttons = parse_buttons(raw)
    except InvalidInput:
        return

    assert len(buttons) <= BUTTONS_MAX
    for text, url in buttons:
        assert 0 < len(text) <= BUTTON_TEXT_MAX and text == text.strip()
        assert re.fullmatch(r"https?://\S+", url) and len(url) <= URL_MAX
        assert not has_control(text + url)


@PROPERTY
@given(st.one_of(TEXT, st.text(min_size=1000, max_size=5000)), st.none() | st.just("file-id"))
def test_a_broadcast_message_fits_telegram_or_is_refused(text: str, photo: str | None) -> None:
    try:
        check_message(text, photo)
    except InvalidInput:
        return

    assert len(text) <= (1024 if photo else 4096)
    assert text or photo
    assert not has_control(text.replace("\t", " "), allow_newlines=True)


OFFER = cast(Offer, SimpleNamespace(id=1, currency="USD", channel_id=None))
RACE = cast(Race, SimpleNamespace(starts_at=NOW, metric=RaceMetric.REVENUE, currency="EUR"))
FIELD_NAMES = ["title", "url", "payout", "kind", "hold", "revshare", "second", "event"]
FIELD_NAMES += ["status", "ips", "channel", "TITLE", "nope", "", "description", "start", "end"]
FIELD_NAMES += ["min", "optin", "mask", "tiebreak", "prizes"]
VALUES = st.one_of(
    TEXT,
    st.sampled_from(
        ["2.50", "2.50 EUR", "deposit=5", "paid=approved", "x=-", "channel", "url", "+2h", "1"]
    ),
)


def refuses_politely(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except InvalidInput:
        return None


@PROPERTY
@given(st.sampled_from(FIELD_NAMES), VALUES)
def test_an_offer_field_edit_is_a_patch_or_a_polite_refusal(field: str, value: str) -> None:
    patch = refuses_politely(lambda: parse_offer_edit(field, value, OFFER))

    assert patch is None or isinstance(patch, OfferPatch)


@PROPERTY
@given(st.sampled_from(FIELD_NAMES), VALUES)
def test_a_race_field_edit_is_a_change_or_a_polite_refusal(field: str, value: str) -> None:
    change = refuses_politely(lambda: parse_race_edit(field, value, RACE, "UTC", NOW))

    if change is not None:
        assert sum(getattr(change, f.name) is not None for f in fields(change)) == 1


@PROPERTY
@given(
    st.one_of(TEXT, st.sampled_from(["1000 1 payout 5", "1000 1 clear", "1 2 revshare 5 %"])),
    st.sampled_from(["payout", "revshare", "clear", "PAYOUT", "x"]),
    VALUES,
)
def test_a_rate_is_read_or_refused_politely(args: str, what: str, value: str) -> None:
    target = refuses_politely(lambda: parse_rate_target(args))
    change = refuses_politely(lambda: parse_rate_change(what, value, "USD"))

    assert target is None or (target[0] > 0 and target[1] >= 0)
    assert change is None or isinstance(change, RateChange)


@PROPERTY
@given(TEXT)
def test_an_offer_kind_and_a_race_description_are_read_or_refused_politely(raw: str) -> None:
    kind = refuses_politely(lambda: check_kind(raw))
    description = refuses_politely(lambda: check_description(raw))

    assert kind is None or kind.value == raw.strip().lower()
    assert description is None or len(description) <= len(raw)


# -- the dialogs' steps -----------------------------------------------------------------------

OFFER_DATA = st.fixed_dictionaries(
    {"kind": st.sampled_from(["url", "bot", "app", "channel"]), "currency": st.just("USD")}
)
RACE_DATA = st.fixed_dictionaries(
    {
        "metric": st.sampled_from([m.value for m in RaceMetric]),
        "currency": st.sampled_from(["USD", "JPY"]),
        "starts_at": st.just(NOW.isoformat()),
        "tz": st.sampled_from(["UTC", "Europe/Moscow", "+05:30"]),
    }
)
STEP_INPUT = st.one_of(
    TEXT,
    st.sampled_from(["url", "channel", "USD", "2.50", "-100123", "1", "0", "+2h", "first", "1=5"]),
)


@pytest.mark.parametrize(
    ("form", "data"),
    [(offer_form.OFFER_FORM, OFFER_DATA), (race_form.RACE_FORM, RACE_DATA)],
    ids=["offer", "race"],
)
@PROPERTY
@given(draw=st.data(), raw=STEP_INPUT)
def test_every_dialog_step_takes_what_is_typed_or_refuses_politely(
    form: Any, data: st.SearchStrategy[dict[str, Any]], draw: st.DataObject, raw: str
) -> None:
    answers = draw.draw(data)
    for step in form.steps:
        if step.name == "offer":  # the race's offer step looks the offer up in the database
            continue
        asyncio.run(_read(step, raw, dict(answers)))


async def _read(step: Any, raw: str, answers: dict[str, Any]) -> None:
    try:
        await step.read(raw, answers, {})
    except InvalidInput:
        return
