"""Strict readings of what people and machines send: whole-string matches, ASCII digits only,
bounded numbers and lengths, text a database will take.

Three Python defaults accept more than they seem to: `$` also matches before a trailing
newline, `\\d` and `str.isdigit()` take any script's digits (`int("²")` then fails, `int("١")`
is 1), and `str.lower()` maps some non-ASCII letters to ASCII ones (the Kelvin sign to `k`).
Every validator goes through the helpers here instead.
"""

from __future__ import annotations

import re
import unicodedata

DIGITS = re.compile(r"[0-9]+")
INT32_MAX = 2**31 - 1  # IntField primary keys
INT64_MAX = 2**63 - 1  # BigIntField columns
TG_ID_MAX = 2**52 - 1  # Telegram: "at most 52 significant bits"


def ascii_int(text: str, max_value: int = INT32_MAX) -> int | None:
    """A non-negative whole number written in ASCII digits, at most `max_value`; else None."""
    if not text or len(text) > len(str(max_value)) or DIGITS.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= max_value else None


def tg_id(text: str) -> int | None:
    """A Telegram user id as typed or sent (ASCII digits, 52 bits at most); else None."""
    value = ascii_int(text, TG_ID_MAX)
    return value if value else None


def ascii_lower(text: str) -> str | None:
    """The text lower-cased, or None when it is not ASCII (so no look-alike letter slips in)."""
    return text.lower() if text.isascii() else None


def has_control(text: str, allow_newlines: bool = False) -> bool:
    """Whether the text holds a control, format or unpaired surrogate character (NUL among
    them, which PostgreSQL refuses in text), other than newlines where they are allowed."""
    for char in text:
        if allow_newlines and char == "\n":
            continue
        if unicodedata.category(char) in {"Cc", "Cs"}:
            return True
    return False


def clean_header(value: str, limit: int) -> str:
    """A header value as storable text: undecodable bytes and control characters replaced."""
    if value.isascii() and value.isprintable():  # what browsers send: nothing to do
        return value[:limit]
    raw = value[: limit * 2].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join("\ufffd" if unicodedata.category(c) == "Cc" else c for c in raw)[:limit]
