"""initData as the Mini App's proof of who is asking: signed for this bot, fresh, a user."""

from __future__ import annotations

import time

import pytest

from bot.web.initdata import MAX_INIT_DATA, Unauthenticated, from_header, validate
from tests.miniapp import init_data
from tests.stack import TOKEN

DAY = 86_400


def test_genuine_fresh_data_gives_its_user_and_start_param() -> None:
    auth = validate(TOKEN, init_data(7, start_param="abc", first_name="Zoë"), DAY)

    assert auth.user.id == 7 and auth.user.first_name == "Zoë"
    assert auth.start_param == "abc"
    assert abs(auth.auth_date - time.time()) < 5


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (init_data(7, age=DAY + 5), "too old"),
        (init_data(7, age=-3600), "future"),
        (init_data(7, token="1:" + "C" * 35), "not signed"),
        ("", "no initData"),
        ("x" * (MAX_INIT_DATA + 1), "too long"),
        ("auth_date=1&user=%7B%7D", "no hash"),
    ],
)
def test_stale_future_foreign_empty_or_unsigned_data_is_refused(data: str, why: str) -> None:
    with pytest.raises(Unauthenticated, match=why):
        validate(TOKEN, data, DAY)


def test_the_header_must_say_tma() -> None:
    assert from_header("tma abc") == "abc"
    for header in (None, "", "Bearer abc", "abc"):
        with pytest.raises(Unauthenticated):
            from_header(header)
