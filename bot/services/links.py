"""Referral links: the affiliate's own, one per offer, labelled sub-links, and their URLs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count

from bot.errors import N_, Conflict, InvalidInput, NotFound
from bot.services.affiliates import create_link
from bot.services.codes import LABEL_MAX, check_label, normalize_label, start_payload
from models import Affiliate, Click, Link, Offer, OfferKind, Referral, SubLink

MAX_SUBLINKS = 20


@dataclass(frozen=True, slots=True)
class LinkUrls:
    """Where links point: the public web address and the bot's (and Mini App's) names."""

    public_url: str
    bot_username: str
    app_short_name: str | None = None

    def bot_start(self, code: str, sub: str | None = None) -> str:
        return f"https://t.me/{self.bot_username}?start={start_payload(code, sub)}"

    def app_start(self, code: str, sub: str | None = None) -> str:
        app = f"/{self.app_short_name}" if self.app_short_name else ""
        return f"https://t.me/{self.bot_username}{app}?startapp={start_payload(code, sub)}"

    def redirect(self, code: str, sub: str | None = None) -> str:
        return f"{self.public_url}/r/{code}" + (f"/{quote(sub)}" if sub else "")

    def for_link(self, code: str, kind: OfferKind | None, sub: str | None = None) -> str:
        """The URL an affiliate shares for a link of this kind (None: their own bot link)."""
        if kind is None or kind is OfferKind.BOT:
            return self.bot_start(code, sub)
        if kind is OfferKind.APP:
            return self.app_start(code, sub)
        if kind is OfferKind.CHANNEL:  # shared as an invite link; /r/ leads to the bot
            return self.bot_start(code, sub)
        return self.redirect(code, sub)


@dataclass(frozen=True, slots=True)
class LinkView:
    link_id: int
    code: str
    offer_id: int | None
    title: str | None
    kind: OfferKind | None


@dataclass(frozen=True, slots=True)
class SubCounts:
    label: str | None
    clicks: int
    unique_clicks: int
    referrals: int


class LinkService:
    """Hands out links (created on first view, stable after) and keeps sub-link labels."""

    async def base_link(self, affiliate: Affiliate) -> LinkView:
        link = await Link.get_or_none(affiliate_id=affiliate.id, offer_id=None)
        if link is None:  # affiliates created before base links existed, or a lost row
            link = await create_link(affiliate, None)
        return LinkView(link.id, link.code, None, None, None)

    async def offer_links(self, affiliate: Affiliate) -> list[LinkView]:
        """One link per active offer, newest offer first."""
        offers = await Offer.filter(is_active=True).order_by("-id")
        existing = {
            link.offer_id: link
            for link in await Link.filter(affiliate_id=affiliate.id, offer_id__isnull=False)
        }
        views = []
        for offer in offers:
            link = existing.get(offer.id) or await self._ensure(affiliate, offer.id)
            views.append(LinkView(link.id, link.code, offer.id, offer.title, offer.kind))
        return views

    async def own_link(self, affiliate: Affiliate, link_id: int) -> LinkView:
        """One of the affiliate's links by id (0: the bot link); a stale id is NotFound."""
        if link_id == 0:
            return await self.base_link(affiliate)
        link = await Link.get_or_none(id=link_id, affiliate_id=affiliate.id).select_related(
            "offer"
        )
        if link is None or (link.offer is not None and not link.offer.is_active):
            raise NotFound(N_("This offer is no longer available."))
        offer = link.offer
        return LinkView(
            link.id,
            link.code,
            link.offer_id,
            offer.title if offer else None,
            offer.kind if offer else None,
        )

    async def _ensure(self, affiliate: Affiliate, offer_id: int) -> Link:
        link = await Link.get_or_none(affiliate_id=affiliate.id, offer_id=offer_id)
        if link is not None:
            return link
        try:
            return await create_link(affiliate, offer_id)
        except IntegrityError:  # two taps at once: the other one created it
            return await Link.get(affiliate_id=affiliate.id, offer_id=offer_id)

    async def sublinks(self, affiliate: Affiliate) -> list[str]:
        rows = await SubLink.filter(affiliate_id=affiliate.id).order_by("label")
        return [row.label for row in rows]

    async def add_sublink(self, affiliate: Affiliate, raw_label: str) -> str:
        label = normalize_label(raw_label)
        if label is None:
            raise InvalidInput(
                N_(
                    "A label is 1–{size} characters: latin letters, digits and dashes, "
                    "e.g. youtube or channel-a."
                ),
                size=LABEL_MAX,
            )
        if await SubLink.filter(affiliate_id=affiliate.id).count() >= MAX_SUBLINKS:
            raise Conflict(
                N_("You already have {count} sub-links, the most allowed."), count=MAX_SUBLINKS
            )
        try:
            await SubLink.create(affiliate_id=affiliate.id, label=label)
        except IntegrityError:
            raise Conflict(
                N_("You already have a sub-link called {label}."), label=label
            ) from None
        return label

    async def remove_sublink(self, affiliate: Affiliate, raw_label: str) -> None:
        label = check_label(raw_label)
        deleted = (
            label is not None
            and await SubLink.filter(affiliate_id=affiliate.id, label=label).delete()
        )
        if not deleted:
            raise NotFound(N_("That sub-link does not exist any more."))

    async def has_sublink(self, affiliate_id: int, label: str) -> bool:
        return await SubLink.exists(affiliate_id=affiliate_id, label=label)

    async def counts(self, affiliate: Affiliate, link_id: int | None = None) -> list[SubCounts]:
        """Clicks (raw, unique) and referrals per sub-link label; None is the plain link.

        With `link_id`, only that link's; without, all the affiliate's links together.
        """
        click_filter: dict[str, int] = {"link__affiliate_id": affiliate.id}
        ref_filter: dict[str, int] = {"referrer_id": affiliate.id}
        if link_id is not None:
            click_filter["link_id"] = link_id
            ref_filter["link_id"] = link_id
        clicks: dict[str | None, list[int]] = {}
        rows = (
            await Click.filter(**click_filter)
            .group_by("sub", "is_unique")
            .annotate(n=Count("id"))
            .values("sub", "is_unique", "n")
        )
        for row in rows:
            pair = clicks.setdefault(row["sub"], [0, 0])
            pair[0] += row["n"]
            if row["is_unique"]:
                pair[1] += row["n"]
        refs = {
            row["sub"]: row["n"]
            for row in await Referral.filter(**ref_filter)
            .group_by("sub")
            .annotate(n=Count("id"))
            .values("sub", "n")
        }
        labels: list[str | None] = [None, *await self.sublinks(affiliate)]
        result = []
        for label in labels:
            raw, unique = clicks.get(label, [0, 0])
            result.append(SubCounts(label, raw, unique, refs.get(label, 0)))
        return result
