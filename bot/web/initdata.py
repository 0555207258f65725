"""Telegram Mini App initData: its signature (HMAC with the bot token) and its age.

aiogram checks the signature but not how old the data is: a leaked initData would work
forever. Here both hold, and the user comes only from the validated data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiogram.utils.web_app import WebAppInitData, WebAppUser, safe_parse_webapp_init_data
from pydantic import ValidationError

MAX_INIT_DATA = 4096  # Telegram's initData is well under 1 KB
SCHEME = "tma "  # Authorization: tma <initData>
CLOCK_SKEW = 60  # seconds of a client clock ahead of ours that are forgiven


class Unauthenticated(Exception):
    """The request does not carry valid initData; the message says why (in English)."""


@dataclass(frozen=True, slots=True)
class WebAppAuth:
    user: WebAppUser
    start_param: str | None
    auth_date: int


def from_header(header: str | None) -> str:
    if not header:
        raise Unauthenticated("no initData: open the app from the bot in Telegram")
    if not header.startswith(SCHEME):
        raise Unauthenticated("the Authorization header must be 'tma <initData>'")
    return header[len(SCHEME) :]


def validate(token: str, init_data: str, max_age: int, now: float | None = None) -> WebAppAuth:
    """The user of a genuine, fresh initData, or Unauthenticated with the reason."""
    if not init_data or len(init_data) > MAX_INIT_DATA:
        raise Unauthenticated("no initData or too long an initData")
    if "hash=" not in init_data:
        raise Unauthenticated("initData has no hash")
    try:
        data: WebAppInitData = safe_parse_webapp_init_data(token, init_data)
    except (ValueError, ValidationError, TypeError):
        # a forged or altered hash, another bot's data, or data that does not parse
        raise Unauthenticated("initData is not signed for this bot") from None
    if data.user is None:
        raise Unauthenticated("initData names no user")
    signed = int(data.auth_date.timestamp())
    age = (time.time() if now is None else now) - signed
    if age > max_age:
        raise Unauthenticated("initData is too old: reopen the app")
    if age < -CLOCK_SKEW:
        raise Unauthenticated("initData is dated in the future")
    return WebAppAuth(data.user, data.start_param, signed)
