from decimal import Decimal

import fakeredis
import pytest

from bot.errors import InvalidInput
from bot.services.amounts import format_money, from_minor, to_minor
from bot.services.clicks import ClickService, Target, compile_target, is_bot_agent
from bot.services.codes import new_code, normalize_label, parse_payload
from bot.services.links import LinkUrls
from models import OfferKind


def test_payload_accepts_code_and_code_with_label() -> None:
    code = new_code()

    assert parse_payload(code) is not None
    assert parse_payload(code).sub is None  # type: ignore[union-attr]
    assert parse_payload(f"{code}_youtube").sub == "youtube"  # type: ignore[union-attr]
    assert parse_payload(code.upper()).code == code  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "raw",
    ["", "x", "a" * 65, "<script>", "abc def", "zzzzzzz0", "abcdefgh_!!", "ab¢defgh", "🙂"],
)
def test_payload_refuses_garbage(raw: str) -> None:
    assert parse_payload(raw) is None


def test_labels_are_normalised_or_refused() -> None:
    assert normalize_label(" YouTube ") == "youtube"
    assert normalize_label("channel_a") == "channel-a"
    assert normalize_label("-x") is None
    assert normalize_label("a" * 33) is None
    assert normalize_label("<b>") is None


@pytest.mark.parametrize(
    ("template", "url"),
    [
        (
            "https://a.test/?c={click_id}&s={sub}&a={affiliate_id}&o={offer_id}&l={link_code}",
            "https://a.test/?c=c1d2&s=you%20tube%26x&a=42&o=7&l=ab%20cd",
        ),
        (
            "https://a.test/{sub}/{click_id}?again={click_id}",
            "https://a.test/you%20tube%26x/c1d2?again=c1d2",
        ),
        (
            "https://a.test/?json={%22k%22:1}&keep={keep}&c={click_id}",
            "https://a.test/?json={%22k%22:1}&keep={keep}&c=c1d2",
        ),
        ("https://a.test/plain", "https://a.test/plain"),
        ("https://a.test/?x={}&y={{click_id}}&z={SUB}", "https://a.test/?x={}&y={c1d2}&z={SUB}"),
    ],
)
def test_macros_are_filled_url_encoded_and_unknown_ones_kept(template: str, url: str) -> None:
    fixed = {"affiliate_id": "42", "offer_id": "7", "link_code": "ab cd"}
    pattern = compile_target(template, fixed)
    target = Target(1, "ab cd", 42, 7, OfferKind.URL, template, True, pattern)
    clicks = ClickService(fakeredis.FakeAsyncRedis(), LinkUrls("https://x.test", "b", None), b"s")

    assert clicks.destination(target, "c1d2", "you tube&x") == url


def test_bot_user_agents_are_flagged() -> None:
    assert is_bot_agent("TelegramBot (like TwitterBot)")
    assert is_bot_agent("curl/8.0")
    assert is_bot_agent("")
    assert not is_bot_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")


def test_money_is_exact_in_minor_units() -> None:
    assert to_minor("12.50", "USD") == 1250
    assert to_minor("0,1", "EUR") == 10
    assert to_minor("7", "JPY") == 7
    assert from_minor(1250, "USD") == Decimal("12.50")
    assert format_money(1250, "USD") == "$12.50"


@pytest.mark.parametrize(
    ("raw", "currency"),
    [
        ("abc", "USD"),
        ("-1", "USD"),
        ("1e309", "USD"),
        ("NaN", "USD"),
        ("1.001", "USD"),
        ("1.5", "JPY"),
        ("9" * 20, "USD"),
    ],
)
def test_money_refuses_bad_amounts(raw: str, currency: str) -> None:
    with pytest.raises(InvalidInput):
        to_minor(raw, currency)
