"""Parsing what an admin types when making a race: times, prizes, numbers. Pure functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import N_, InvalidInput
from bot.services.inputs import ascii_int, has_control
from bot.services.money import to_minor
from bot.services.races import MAX_PLACES

# Whole-string patterns (fullmatch), ASCII digits only.
RELATIVE = re.compile(r"\+([0-9]{1,4}) *(m|min|h|d)")
ABSOLUTE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{1,2}:[0-9]{2})(?: +([^ ]+))?")
OFFSET = re.compile(r"(?:UTC)?([+-])([0-9]{1,2})(?::?([0-9]{2}))?")
ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}")
NUMBER_RE = re.compile(r"[0-9]{1,15}(?:[.,][0-9]{1,8})?")
UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days"}


def zone(name: str) -> timezone | ZoneInfo:
    """An IANA zone (Europe/Moscow), UTC, or an offset (+03:00)."""
    if name.upper() in {"UTC", "Z", "GMT"}:
        return UTC
    offset = OFFSET.fullmatch(name)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        hours, minutes = int(offset.group(2)), int(offset.group(3) or 0)
        if hours > 14 or minutes > 59:
            raise InvalidInput(N_("{zone} is not a time zone I know."), zone=name[:40])
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    if len(name) > 64 or not ZONE_NAME.fullmatch(name):
        raise InvalidInput(N_("{zone} is not a time zone I know."), zone=name[:40])
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, not a zone
        raise InvalidInput(N_("{zone} is not a time zone I know."), zone=name[:40]) from None


def parse_when(
    raw: str, now: datetime, default_zone: str, base: datetime | None = None
) -> datetime:
    """`now`, `+30m`/`+2h`/`+7d` (from `base`, else now), or `YYYY-MM-DD HH:MM [zone]`."""
    text = raw.strip()
    if text.lower() == "now":
        return now
    relative = RELATIVE.fullmatch(text.lower())
    if relative:
        return (base or now) + timedelta(**{UNITS[relative.group(2)]: int(relative.group(1))})
    absolute = ABSOLUTE.fullmatch(text)
    if not absolute:
        raise InvalidInput(
            N_(
                "Write a time like 2026-12-24 18:00 (optionally with a zone: UTC, +03:00, "
                "Europe/Moscow), or now, +2h, +7d."
            )
        )
    try:
        text = f"{absolute.group(1)} {absolute.group(2)}"
        naive = datetime.strptime(text, "%Y-%m-%d %H:%M")  # noqa: DTZ007 - zone added below
    except ValueError:
        raise InvalidInput(N_("That date does not exist.")) from None
    tz = zone(absolute.group(3) or default_zone)
    try:
        return naive.replace(tzinfo=tz).astimezone(UTC)
    except OverflowError:  # the last minutes of year 9999, east of UTC
        raise InvalidInput(N_("That date does not exist.")) from None


def parse_prizes(raw: str, currency: str) -> list[tuple[int, str, int]]:
    """`1=100 iPhone; 2=50; 3=Hoodie` -> [(place, text, amount in minor units)]."""
    prizes: dict[int, tuple[str, int]] = {}
    items = [i.strip() for i in re.split(r"[;\n]", raw) if i.strip()]
    if len(items) > MAX_PLACES:
        raise InvalidInput(N_("At most {count} prize places."), count=MAX_PLACES)
    for item in items:
        place_raw, sep, rest = item.partition("=")
        place = ascii_int(place_raw.strip().removeprefix("#"), 10**6)
        if not sep or place is None or not rest.strip():
            raise InvalidInput(N_("Write prizes like 1=100 iPhone; 2=50; 3=Hoodie"))
        if not 1 <= place <= MAX_PLACES:
            raise InvalidInput(N_("At most {count} prize places."), count=MAX_PLACES)
        if place in prizes:
            raise InvalidInput(N_("Place {place} is given twice."), place=place)
        first, _, text = rest.strip().partition(" ")
        if re.match(r"-[0-9]", first):  # a prefix: "-5" and "-5.00" alike
            raise InvalidInput(N_("A prize cannot be negative."))
        if NUMBER_RE.fullmatch(first):
            minor = to_minor(first, currency)
        else:
            minor, text = 0, rest.strip()
        text = " ".join(text.split())
        if len(text) > 128 or has_control(text):
            raise InvalidInput(N_("A prize text is at most {size} characters."), size=128)
        prizes[place] = (text, minor)
    return [(place, text, minor) for place, (text, minor) in sorted(prizes.items())]


def parse_score(raw: str, money: bool, currency: str) -> int:
    text = raw.strip()
    if text.startswith("-"):
        raise InvalidInput(N_("The minimum score cannot be negative."))
    if money:
        return to_minor(text, currency)
    value = ascii_int(text, 10**12)
    if value is None:
        raise InvalidInput(N_("Give a whole number, e.g. 5."))
    return value
