"""Offers: what affiliates promote, created and changed by admins."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.errors import N_, InvalidInput, NotFound
from bot.services.clicks import MACRO_RE, MACROS, TargetCache
from bot.services.money import check_currency, to_minor
from models import Offer, OfferKind

TITLE_MAX = 128
URL_MAX = 2048


@dataclass(frozen=True, slots=True)
class OfferDraft:
    title: str
    kind: OfferKind
    payout_minor: int
    currency: str
    target_url: str | None


def check_title(raw: str) -> str:
    title = " ".join(raw.split())
    if not title or len(title) > TITLE_MAX:
        raise InvalidInput(N_("A title is 1–{size} characters."), size=TITLE_MAX)
    return title


def check_kind(raw: str) -> OfferKind:
    try:
        return OfferKind(raw.strip().lower())
    except ValueError:
        raise InvalidInput(N_("The kind is one of: url, bot, app.")) from None


def check_target_url(raw: str) -> str:
    url = raw.strip()
    parts = urlsplit(url)
    if len(url) > URL_MAX or parts.scheme not in {"http", "https"} or not parts.netloc:
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

    def __init__(self, cache: TargetCache) -> None:
        self.cache = cache

    async def create(self, draft: OfferDraft) -> Offer:
        if draft.kind is OfferKind.URL and not draft.target_url:
            raise InvalidInput(N_("A url offer needs a target address."))
        return await Offer.create(
            title=draft.title,
            kind=draft.kind,
            payout_minor=draft.payout_minor,
            currency=draft.currency,
            target_url=draft.target_url,
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
        self.cache.clear()
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
            offer.kind = kind
            changed = ["kind"]
        else:
            raise InvalidInput(N_("You can edit: title, url, payout, kind."))
        await offer.save(update_fields=[*changed, "updated_at"])
        self.cache.clear()
        return offer


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
    if kind is OfferKind.URL:
        url_raw, _, rest = rest.partition(" ")
        url = check_target_url(url_raw)
    return OfferDraft(check_title(rest), kind, payout, currency, url)
