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
from models import Affiliate, AffiliateRate, ConversionStatus, Offer, OfferKind

TITLE_MAX = 128
WHOLE_BP = 10_000  # 100 % in basis points
IPS_MAX = 1024  # the column's length
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


@dataclass(frozen=True, slots=True)
class OfferPatch:
    """A change to an offer: only the fields given change. In `event_payouts` and
    `status_words`, an entry mapped to None is removed."""

    title: str | None = None
    target_url: str | None = None
    payout_minor: int | None = None
    currency: str | None = None
    kind: OfferKind | None = None
    hold_days: int | None = None
    revshare_bp: int | None = None
    second_level_bp: int | None = None
    event_payouts: dict[str, int | None] | None = None
    status_words: dict[str, ConversionStatus | None] | None = None
    ip_allowlist: str | None = None
    channel_id: int | None = None


@dataclass(frozen=True, slots=True)
class RateChange:
    """An affiliate's own payout and/or RevShare on one offer (None keeps the offer's)."""

    payout_minor: int | None = None
    revshare_bp: int | None = None


PLAIN_FIELDS = (
    "title",
    "target_url",
    "payout_minor",
    "currency",
    "hold_days",
    "revshare_bp",
    "second_level_bp",
    "ip_allowlist",
    "channel_id",
)


def check_kind_needs(kind: OfferKind, offer: Offer) -> None:
    """An offer keeps what its kind needs: a url offer its address, a channel its id."""
    if kind is OfferKind.URL and not offer.target_url:
        raise InvalidInput(N_("A url offer needs a target address."))
    if kind is OfferKind.CHANNEL and offer.channel_id is None:
        raise InvalidInput(N_("Set the channel first."))


def merged(current: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any]:
    mapping = dict(current or {})
    for name, value in changes.items():
        if value is None:
            mapping.pop(name, None)
        else:
            mapping[name] = value.value if isinstance(value, ConversionStatus) else value
    return mapping


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
        offer = await Offer.create(
            title=draft.title,
            kind=draft.kind,
            payout_minor=draft.payout_minor,
            currency=draft.currency,
            target_url=draft.target_url,
            channel_id=draft.channel_id,
            secret=secrets.token_hex(24),
            token=secrets.token_urlsafe(24),
        )
        self._changed()
        return offer

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

    async def update(self, offer_id: int, patch: OfferPatch) -> Offer:
        """Apply a patch; an offer keeps what its kind needs (a url offer its address, a
        channel offer its channel)."""
        offer = await self.get(offer_id)
        values: dict[str, object] = {
            name: getattr(patch, name) for name in PLAIN_FIELDS if getattr(patch, name) is not None
        }
        if patch.event_payouts is not None:
            values["event_payouts"] = merged(offer.event_payouts, patch.event_payouts)
        if patch.status_words is not None:
            values["status_map"] = merged(offer.status_map, patch.status_words)
        if patch.kind is not None:
            check_kind_needs(patch.kind, offer)
            values["kind"] = patch.kind
        for name, value in values.items():
            setattr(offer, name, value)
        changed = list(values)
        if changed:
            await offer.save(update_fields=[*changed, "updated_at"])
            self._changed()
        return offer

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
        self, tg_id: int, offer_id: int, change: RateChange | None
    ) -> AffiliateRate | None:
        """Override one affiliate's payout or RevShare on an offer; None removes the
        override (the offer's own rates apply again)."""
        offer = await self.get(offer_id)
        affiliate = await Affiliate.get_or_none(tg_id=tg_id)
        if affiliate is None:
            raise NotFound(N_("No affiliate with Telegram id {id}."), id=tg_id)
        if change is None:
            await AffiliateRate.filter(affiliate_id=affiliate.id, offer_id=offer.id).delete()
            self._changed()
            return None
        rate, _ = await AffiliateRate.get_or_create(affiliate_id=affiliate.id, offer_id=offer.id)
        if change.payout_minor is not None:
            rate.payout_minor = change.payout_minor
        if change.revshare_bp is not None:
            rate.revshare_bp = change.revshare_bp
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
    if not 0 <= bp <= WHOLE_BP:
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
    if not items or len(",".join(items)) > IPS_MAX:
        raise InvalidInput(N_("Give addresses or networks separated by commas, or - for any."))
    return ",".join(items)


def check_chat_id(raw: str) -> int:
    text = raw.strip()
    if not CHAT_ID_RE.fullmatch(text):
        raise InvalidInput(N_("A channel id looks like -1001234567890."))
    return int(text)
