"""Time zones as people give them: an IANA name (Europe/Moscow), UTC, or an offset (+03:00)."""

from __future__ import annotations

import re
from datetime import UTC, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import N_, InvalidInput

# Whole-string patterns (fullmatch), ASCII digits only.
OFFSET = re.compile(r"(?:UTC)?([+-])([0-9]{1,2})(?::?([0-9]{2}))?")
MAX_OFFSET_HOURS = 14  # UTC+14, Kiribati: the farthest any zone is
MINUTES = 60
NAME_MAX = 64  # the column's length
ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}")


def zone(name: str) -> timezone | ZoneInfo:
    """An IANA zone (Europe/Moscow), UTC, or an offset (+03:00)."""
    if name.upper() in {"UTC", "Z", "GMT"}:
        return UTC
    offset = OFFSET.fullmatch(name)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        hours, minutes = int(offset.group(2)), int(offset.group(3) or 0)
        if hours > MAX_OFFSET_HOURS or minutes >= MINUTES:
            raise InvalidInput(N_("{zone} is not a time zone I know."), zone=name[:40])
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    if len(name) > NAME_MAX or not ZONE_NAME.fullmatch(name):
        raise InvalidInput(N_("{zone} is not a time zone I know."), zone=name[:40])
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, not a zone
        raise InvalidInput(N_("{zone} is not a time zone I know."), zone=name[:40]) from None
