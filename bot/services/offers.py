"""Offers: what affiliates promote, created and changed by admins."""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from bot.errors import N_, InvalidInput, NotFound
from bot.services.clicks import MACRO_RE, MACROS, TargetCache
from bot.services.inputs import ascii_int, has_control
from bot.services.money import check_currency, to_minor
from bot.services.postbacks import EVENT_RE
from models import Affiliate, AffiliateRate, ConversionStatus, Offer, OfferKind

TITLE_MAX = 128
URL_MAX = 2048
PERCENT_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,2})?")
CHAT_ID_RE = re.compile(r"-100[0-9]{5,15}")


@dataclass(frozen=True, slots=True)
class OfferDraft:
    title: str
    kind: OfferKind
    payout_minor: int
    currency: str
    target_url: str | None
    channel_id: int | None = None


def check_title(raw: str) -> str:
    title = " ".join(raw.split())
    if not title or len(title) > TITLE_MAX or has_control(title):
        raise InvalidInput(N_("A title is 1–{size} characters."), size=TITLE_MAX)
    return title


def check_kind(raw: str) -> OfferKind:
    try:
        return OfferKind(raw.strip().lower())
    except ValueError:
        raise InvalidInput(N_("The kind is one of: url, bot, app, channel.")) from None


def check_target_url(raw: str) -> str:
    url = raw.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a bad IPv6 address in brackets
        parts = urlsplit("")
    if (
        len(url) > URL_MAX
        or has_control(url)
        or parts.scheme not in {"http", "https"}
        or not parts.netloc
    ):
        raise InvalidInput(N_("The target must be an http:// or https:// address."))
    unknown = sorted(set(MACRO_RE.findall(url)) - set(MACROS))
    if unknown:
        raise InvalidInput(
            N_("Unknown macro {names}. Known: {known}."),
            names=", ".join("{" + n + "}" for n in unknown),
            known=", ".join("{" + n + "}" for n in MACROS),
        )
    return url


class OfferService:
    """Validates and stores offers; a change is seen by the redirect at once in this process."""

    def __init__(self, cache: TargetCache, on_change: Sequence[Callable[[], None]] = ()) -> None:
        self.cache = cache
        self.on_change = list(on_change)  # other caches of offers, dropped on every change

    def _changed(self) -> None:
        self.cache.clear()
        for forget in self.on_change:
            forget()

    async def create(self, draft: OfferDraft) -> Offer:
        if draft.kind is OfferKind.URL and not draft.target_url:
            raise InvalidInput(N_("A url offer needs a target address."))
        return await Offer.create(
            title=draft.title,
            kind=draft.kind,
            payout_minor=draft.payout_minor,
            currency=draft.currency,
            target_url=draft.target_url,
            channel_id=draft.channel_id,
            secret=secrets.token_hex(24),
            token=secrets.token_urlsafe(24),
        )

    async def list(self) -> list[Offer]:
        return await Offer.all().order_by("id")

    async def get(self, offer_id: int) -> Offer:
        offer = await Offer.get_or_none(id=offer_id)
        if offer is None:
            raise NotFound(N_("There is no offer #{id}."), id=offer_id)
        return offer

    async def set_active(self, offer_id: int, active: bool) -> Offer:
        offer = await self.get(offer_id)
        offer.is_active = active
        await offer.save(update_fields=["is_active", "updated_at"])
        self._changed()
        return offer

    async def edit(self, offer_id: int, field: str, value: str) -> Offer:
        """Change one field: title, url, payout (amount and currency) or kind."""
        offer = await self.get(offer_id)
        if field == "title":
            offer.title = check_title(value)
            changed = ["title"]
        elif field == "url":
            offer.target_url = check_target_url(value)
            changed = ["target_url"]
        elif field == "payout":
            amount, _, currency = value.strip().partition(" ")
            offer.currency = check_currency(currency or offer.currency)
            offer.payout_minor = to_minor(amount, offer.currency)
            changed = ["payout_minor", "currency"]
        elif field == "kind":
            kind = check_kind(value)
            if kind is OfferKind.URL and not offer.target_url:
                raise InvalidInput(N_("A url offer needs a target address."))
            if kind is OfferKind.CHANNEL and offer.channel_id is None:
                raise InvalidInput(N_("Set the channel first: /offer_edit ID channel -100…"))
            offer.kind = kind
            changed = ["kind"]
        elif field == "hold":
            offer.hold_days = check_int(value, 0, 365)
            changed = ["hold_days"]
        elif field == "revshare":
            offer.revshare_bp = check_percent(value)
            changed = ["revshare_bp"]
        elif field == "second":
            offer.second_level_bp = check_percent(value)
            changed = ["second_level_bp"]
        elif field == "event":
            offer.event_payouts = self._pair(offer.event_payouts, value, offer.currency, "event")
            changed = ["event_payouts"]
        elif field == "status":
            offer.status_map = self._pair(offer.status_map, value, offer.currency, "status")
            changed = ["status_map"]
        elif field == "ips":
            offer.ip_allowlist = check_ips(value)
            changed = ["ip_allowlist"]
        elif field == "channel":
            offer.channel_id = check_chat_id(value)
            changed = ["channel_id"]
        else:
            raise InvalidInput(
                N_(
                    "You can edit: title, url, payout, kind, hold, revshare, second, event, "
                    "status, ips, channel."
                )
            )
        await offer.save(update_fields=[*changed, "updated_at"])
        self._changed()
        return offer

    @staticmethod
    def _pair(
        current: dict[str, Any] | None, value: str, currency: str, what: str
    ) -> dict[str, Any]:
        """`name=value` adds or changes one entry, `name=-` removes it."""
        name, sep, raw = value.strip().partition("=")
        name = name.strip().lower()
        raw = raw.strip()
        if not sep or not EVENT_RE.fullmatch(name) or not raw:
            raise InvalidInput(N_("Write it as name=value, e.g. deposit=5.00 or paid=approved."))
        mapping = dict(current or {})
        if raw == "-":
            mapping.pop(name, None)
        elif what == "event":
            mapping[name] = to_minor(raw, currency)
        else:
            if raw not in {s.value for s in ConversionStatus}:
                raise InvalidInput(
                    N_("The status is one of: pending, approved, rejected, reversed.")
                )
            mapping[name] = raw
        return mapping

    async def rotate_secret(self, offer_id: int) -> Offer:
        """A new signing secret; the old one stays valid until the next rotation."""
        offer = await self.get(offer_id)
        offer.secret_previous = offer.secret or None
        offer.secret = secrets.token_hex(24)
        await offer.save(update_fields=["secret", "secret_previous", "updated_at"])
        self._changed()
        return offer

    async def new_token(self, offer_id: int) -> Offer:
        offer = await self.get(offer_id)
        offer.token = secrets.token_urlsafe(24)
        await offer.save(update_fields=["token", "updated_at"])
        self._changed()
        return offer

    async def set_rate(
        self, tg_id: int, offer_id: int, field: str, value: str
    ) -> AffiliateRate | None:
        """Override one affiliate's payout or RevShare on an offer; `clear` removes it."""
        offer = await self.get(offer_id)
        affiliate = await Affiliate.get_or_none(tg_id=tg_id)
        if affiliate is None:
            raise NotFound(N_("No affiliate with Telegram id {id}."), id=tg_id)
        if field == "clear":
            await AffiliateRate.filter(affiliate_id=affiliate.id, offer_id=offer.id).delete()
            self._changed()
            return None
        rate, _ = await AffiliateRate.get_or_create(affiliate_id=affiliate.id, offer_id=offer.id)
        if field == "payout":
            rate.payout_minor = to_minor(value, offer.currency)
        elif field == "revshare":
            rate.revshare_bp = check_percent(value)
        else:
            raise InvalidInput(
                N_("Usage: /rate TG_ID OFFER_ID payout AMOUNT | revshare PERCENT | clear")
            )
        await rate.save()
        self._changed()
        return rate


def check_int(raw: str, low: int, high: int) -> int:
    value = ascii_int(raw.strip(), high)
    if value is None or value < low:
        raise InvalidInput(N_("Give a whole number from {low} to {high}."), low=low, high=high)
    return value


def check_percent(raw: str) -> int:
    """'12.5' -> 1250 basis points; 0-100 with at most two decimals."""
    text = raw.strip().removesuffix("%").rstrip().replace(",", ".")
    bp = Decimal(text) * 100 if PERCENT_RE.fullmatch(text) else Decimal(-1)
    if not 0 <= bp <= 10000:
        raise InvalidInput(N_("Give a percentage from 0 to 100, e.g. 12.5"))
    return int(bp)


def check_ips(raw: str) -> str:
    text = raw.strip()
    if text == "-":
        return ""
    items = [i.strip() for i in text.replace(";", ",").split(",") if i.strip()]
    try:
        for item in items:
            ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise InvalidInput(
            N_("Give addresses or networks separated by commas, or - for any.")
        ) from None
    if not items or len(",".join(items)) > 1024:
        raise InvalidInput(N_("Give addresses or networks separated by commas, or - for any."))
    return ",".join(items)


def check_chat_id(raw: str) -> int:
    text = raw.strip()
    if not CHAT_ID_RE.fullmatch(text):
        raise InvalidInput(
            N_("A channel id looks like -1001234567890 (forward a post to @userinfobot).")
        )
    return int(text)


def parse_offer_command(args: str) -> OfferDraft:
    """`KIND AMOUNT CURRENCY [URL] TITLE`, e.g. `url 2.50 USD https://x.test/?c={click_id} A`."""
    parts = args.split(maxsplit=3)
    if len(parts) < 4:
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
        channel_id = check_chat_id(chat_raw)
    return OfferDraft(check_title(rest), kind, payout, currency, url, channel_id)
