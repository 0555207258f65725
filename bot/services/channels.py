"""Channel offers: one invite link per affiliate; joins through it count, early leaves undo it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from bot.services.conversions import Answer, Claim, ConversionService, LinkRef
from models import (
    JOIN_EVENT,
    Affiliate,
    ChannelInvite,
    Conversion,
    ConversionStatus,
    Link,
    Offer,
    OfferKind,
)


@dataclass(frozen=True, slots=True)
class InviteNeed:
    """What the Telegram edge needs to make an invite link: where, and its name."""

    offer_id: int
    link_id: int
    chat_id: int
    name: str


class ChannelService:
    def __init__(
        self,
        conversions: ConversionService,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.conversions = conversions
        self.clock = clock

    async def invite_for(self, link_id: int) -> str | InviteNeed | None:
        """The stored invite link, or what is needed to make one; None for other offers."""
        link = await Link.get(id=link_id).select_related("offer", "affiliate")
        offer = link.offer
        if offer is None or offer.kind is not OfferKind.CHANNEL or offer.channel_id is None:
            return None
        invite = await ChannelInvite.get_or_none(offer_id=offer.id, link_id=link.id)
        if invite is not None:
            return invite.invite_link
        name = f"{link.affiliate.display_name[:20]} #{link.affiliate_id}"
        return InviteNeed(offer.id, link.id, offer.channel_id, name[:32])

    async def save_invite(self, need: InviteNeed, invite_link: str) -> str:
        try:
            await ChannelInvite.create(
                offer_id=need.offer_id, link_id=need.link_id, invite_link=invite_link
            )
        except IntegrityError:  # made twice at once: keep the first
            invite = await ChannelInvite.get(offer_id=need.offer_id, link_id=need.link_id)
            return invite.invite_link
        return invite_link

    async def joined(
        self, chat_id: int, user_tg_id: int, invite_link: str | None
    ) -> Answer | None:
        """Someone joined; count it when they came through one of our invite links."""
        if not invite_link:
            return None
        invite = await ChannelInvite.get_or_none(invite_link=invite_link).select_related(
            "offer", "link"
        )
        if invite is None or invite.offer.channel_id != chat_id or not invite.offer.is_active:
            return None
        owner = await Affiliate.get(id=invite.link.affiliate_id)
        if owner.tg_id == user_tg_id:
            return None  # joining through your own link earns nothing
        claim = Claim(
            offer=invite.offer,
            link=LinkRef(id=invite.link.id, affiliate_id=invite.link.affiliate_id),
            click=None,
            sub=None,
            txid=f"join:{chat_id}:{user_tg_id}",
            event=JOIN_EVENT,
            amount_minor=0,
            currency=invite.offer.currency,
            status=ConversionStatus.PENDING,
        )
        return await self.conversions.record(claim)

    async def left(self, chat_id: int, user_tg_id: int) -> Answer | None:
        """Someone left; within the offer's hold window their join is undone."""
        conversion = await Conversion.get_or_none(
            txid=f"join:{chat_id}:{user_tg_id}", event=JOIN_EVENT
        ).select_related("offer")
        if conversion is None:
            return None
        hold = timedelta(days=max(conversion.offer.hold_days, 0))
        if self.clock() - conversion.created_at > hold:
            return None
        if conversion.status is ConversionStatus.PENDING:
            return await self.conversions.move(conversion, ConversionStatus.REJECTED)
        if conversion.status is ConversionStatus.APPROVED:
            return await self.conversions.move(conversion, ConversionStatus.REVERSED)
        return None

    async def channel_offers(self) -> list[Offer]:
        return await Offer.filter(kind=OfferKind.CHANNEL, is_active=True)
