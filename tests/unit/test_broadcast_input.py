"""A broadcast's URL buttons as an admin types them: one a line, refused with the line that
is wrong."""

from __future__ import annotations

import pytest

from bot.errors import InvalidInput
from bot.services.broadcasts import check_message, parse_buttons


def test_buttons_are_read_one_a_line_with_any_dash() -> None:
    rows = parse_buttons("Open it - https://a.example/x\n\nRules — http://b.example/r?x=1\n")

    assert rows == [["Open it", "https://a.example/x"], ["Rules", "http://b.example/r?x=1"]]


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("Open it https://a.example", "this is not: Open it https://a.example"),
        ("Open - ftp://a.example", "this is not"),
        ("Open - https://a.example/x y", "this is not"),
        ("x" * 65 + " - https://a.example", "at most 64"),
        ("\n".join(f"B{i} - https://a.example/{i}" for i in range(7)), "At most 6 buttons"),
    ],
)
def test_a_wrong_button_line_is_refused_saying_which(typed: str, said: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_buttons(typed)

    assert said in refused.value.message.format(**refused.value.params)


def test_a_message_must_fit_telegram_and_hold_something() -> None:
    check_message("x" * 4096, None)
    with pytest.raises(InvalidInput):
        check_message("x" * 1025, "PHOTO")
    with pytest.raises(InvalidInput):
        check_message("", None)
