"""The admin commands' own syntax, read into the typed inputs the services take: what an
admin types (`/offer_add url 2.50 USD https://… Title`, `/offer_edit 3 hold 30`, `+2h`,
`1=100 iPhone; 2=50`) becomes an OfferDraft, an OfferPatch, a RaceChange, times and prizes.
Another surface (the Mini App, an admin panel) sends those types directly."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram.filters import CommandObject

from bot.errors import N_, InvalidInput
from bot.services.amounts import check_currency, to_minor
from bot.services.inputs import ascii_int, has_control, tg_id
from bot.services.offers import (
    OfferDraft,
    OfferPatch,
    RateChange,
    check_chat_id,
    check_int,
    check_ips,
    check_kind,
    check_percent,
    check_target_url,
    check_title,
)
from bot.services.postbacks import EVENT_RE
from bot.services.races import MAX_PLACES, RaceChange
from bot.services.races.drafts import check_description
from bot.services.zones import zone
from models import ConversionStatus, Offer, OfferKind, Race, TieBreak

# Whole-string patterns (fullmatch), ASCII digits only.
RELATIVE = re.compile(r"\+([0-9]{1,4}) *(m|min|h|d)")
ABSOLUTE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{1,2}:[0-9]{2})(?: +([^ ]+))?")
NUMBER_RE = re.compile(r"[0-9]{1,15}(?:[.,][0-9]{1,8})?")
PRIZE_TEXT_MAX = 128  # the column's length
UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days"}


def leading_id(command: CommandObject, problem: str) -> tuple[int, str]:
    """`/command 12 rest…` -> (12, "rest…"); `problem` (a message id) when there is no number."""
    head, _sep, rest = (command.args or "").strip().partition(" ")
    number = ascii_int(head)
    if number is None:
        raise InvalidInput(problem, command=command.command)
    return number, rest.strip()


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
        if len(text) > PRIZE_TEXT_MAX or has_control(text):
            raise InvalidInput(
                N_("A prize text is at most {size} characters."), size=PRIZE_TEXT_MAX
            )
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


# -- offers -----------------------------------------------------------------------------------


def parse_offer_command(args: str) -> OfferDraft:
    """`KIND AMOUNT CURRENCY [URL] TITLE`, e.g. `url 2.50 USD https://x.test/?c={click_id} A`."""
    parts = args.split(maxsplit=3)
    if len(parts) < len(("KIND", "AMOUNT", "CURRENCY", "TITLE")):
        raise InvalidInput(
            N_(
                "Usage: /offer_add KIND AMOUNT CURRENCY [URL] TITLE, e.g.\n"
                "/offer_add url 2.50 USD https://shop.example/?cid={{click_id}} Shop sign-ups"
            )
        )
    kind = check_kind(parts[0])
    currency = check_currency(parts[2])
    payout = to_minor(parts[1], currency)
    rest = parts[3]
    url = None
    channel_id = None
    if kind is OfferKind.URL:
        url_raw, _, rest = rest.partition(" ")
        url = check_target_url(url_raw)
    elif kind is OfferKind.CHANNEL:
        chat_raw, _, rest = rest.partition(" ")
        channel_id = check_channel(chat_raw)
    return OfferDraft(check_title(rest), kind, payout, currency, url, channel_id)


def check_channel(raw: str) -> int:
    """A channel id, with the chat's hint of where to find one."""
    try:
        return check_chat_id(raw)
    except InvalidInput:
        raise InvalidInput(
            N_("A channel id looks like -1001234567890 (forward a post to @userinfobot).")
        ) from None


def parse_pair(value: str) -> tuple[str, str | None]:
    """`name=value` (None for `name=-`, which removes the entry)."""
    name, sep, raw = value.strip().partition("=")
    name = name.strip().lower()
    raw = raw.strip()
    if not sep or not EVENT_RE.fullmatch(name) or not raw:
        raise InvalidInput(N_("Write it as name=value, e.g. deposit=5.00 or paid=approved."))
    return name, None if raw == "-" else raw


def parse_status_word(value: str) -> dict[str, ConversionStatus | None]:
    name, raw = parse_pair(value)
    if raw is None:
        return {name: None}
    try:
        return {name: ConversionStatus(raw)}
    except ValueError:
        raise InvalidInput(
            N_("The status is one of: pending, approved, rejected, reversed.")
        ) from None


def parse_amount(value: str, currency: str) -> tuple[int, str]:
    """`3.00` or `3.00 USD`, the one way every admin command reads money: minor units and the
    currency (the given default when none is written)."""
    amount, _, code = value.strip().partition(" ")
    checked = check_currency(code.strip() or currency)
    return to_minor(amount, checked), checked


def amount_in(value: str, currency: str) -> int:
    """parse_amount() where only `currency` makes sense (an offer's own currency)."""
    minor, code = parse_amount(value, currency)
    if code != currency:
        raise InvalidInput(
            N_("This offer pays in {currency}: give the amount in {currency}."),
            currency=currency,
        )
    return minor


def parse_event_payout(value: str, currency: str) -> dict[str, int | None]:
    name, raw = parse_pair(value)
    return {name: None if raw is None else amount_in(raw, currency)}


def parse_payout(value: str, offer: Offer) -> OfferPatch:
    minor, code = parse_amount(value, offer.currency)
    return OfferPatch(payout_minor=minor, currency=code)


OFFER_FIELDS: dict[str, Callable[[str, Offer], OfferPatch]] = {
    "title": lambda v, _o: OfferPatch(title=check_title(v)),
    "url": lambda v, _o: OfferPatch(target_url=check_target_url(v)),
    "payout": parse_payout,
    "kind": lambda v, _o: OfferPatch(kind=check_kind(v)),
    "hold": lambda v, _o: OfferPatch(hold_days=check_int(v, 0, 365)),
    "revshare": lambda v, _o: OfferPatch(revshare_bp=check_percent(v)),
    "second": lambda v, _o: OfferPatch(second_level_bp=check_percent(v)),
    "event": lambda v, o: OfferPatch(event_payouts=parse_event_payout(v, o.currency)),
    "status": lambda v, _o: OfferPatch(status_words=parse_status_word(v)),
    "ips": lambda v, _o: OfferPatch(ip_allowlist=check_ips(v)),
    "channel": lambda v, _o: OfferPatch(channel_id=check_channel(v)),
}


def parse_offer_edit(field: str, value: str, offer: Offer) -> OfferPatch:
    """`FIELD VALUE` of /offer_edit, as a patch of the offer."""
    parse = OFFER_FIELDS.get(field.lower())
    if parse is None:
        raise InvalidInput(
            N_(
                "You can edit: title, url, payout, kind, hold, revshare, second, event, "
                "status, ips, channel."
            )
        )
    if field.lower() == "kind" and check_kind(value) is OfferKind.CHANNEL and not offer.channel_id:
        raise InvalidInput(N_("Set the channel first: /offer_edit ID channel -100…"))
    return parse(value, offer)


RATE_USAGE = N_("Usage: /rate TG_ID OFFER_ID payout AMOUNT | revshare PERCENT | clear")


def parse_rate_target(args: str) -> tuple[int, int, str, str]:
    """`TG_ID OFFER_ID WHAT [VALUE]` of /rate."""
    parts = args.split()
    affiliate = tg_id(parts[0]) if parts else None
    offer_id = ascii_int(parts[1]) if len(parts) > 1 else None
    if len(parts) < len(("TG_ID", "OFFER_ID", "WHAT")) or affiliate is None or offer_id is None:
        raise InvalidInput(RATE_USAGE)
    return affiliate, offer_id, parts[2].lower(), " ".join(parts[3:])


def parse_rate_change(what: str, value: str, currency: str) -> RateChange | None:
    """`payout AMOUNT`, `revshare PERCENT`, or `clear` (None)."""
    if what == "clear":
        return None
    if what == "payout":
        return RateChange(payout_minor=amount_in(value, currency))
    if what == "revshare":
        return RateChange(revshare_bp=check_percent(value))
    raise InvalidInput(RATE_USAGE)


# -- races ------------------------------------------------------------------------------------


def yes(value: str) -> bool:
    return value.strip().lower() in {"1", "yes", "on"}


def parse_race_edit(name: str, raw: str, race: Race, time_zone: str, now: datetime) -> RaceChange:
    """`FIELD VALUE` of /race_edit, as a change of the race."""
    fields: dict[str, tuple[str, Callable[[str], Any]]] = {
        "title": ("title", check_title),
        "description": ("description", check_description),
        "start": ("starts_at", lambda v: parse_when(v, now, time_zone)),
        "end": ("ends_at", lambda v: parse_when(v, now, time_zone, base=race.starts_at)),
        "min": ("min_score", lambda v: parse_score(v, race.metric.is_money, race.currency)),
        "optin": ("opt_in", yes),
        "mask": ("mask_names", yes),
        "tiebreak": ("tie_break", lambda v: TieBreak(v.strip().lower())),
        "channel": ("announce_chat_id", check_channel),
    }
    if name.lower() not in fields or not raw.strip():
        raise InvalidInput(
            N_(
                "Usage: /race_edit ID FIELD VALUE; fields: title, description, start, end, min, "
                "optin, mask, tiebreak, channel, prizes"
            )
        )
    field_name, parse = fields[name.lower()]
    try:
        value = parse(raw)
    except ValueError:
        raise InvalidInput(N_("That value does not fit this field.")) from None
    return RaceChange(**{field_name: value})
