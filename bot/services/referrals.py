"""Attribution of new bot users to the affiliate whose link brought them (first touch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import cast

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.services.affiliates import reachable
from bot.services.codes import Payload, parse_payload
from bot.services.links import LinkService
from bot.services.races import ScoreEvent, Scoring
from models import Affiliate, Category, Link, RaceMetric, Referral


class Refused(StrEnum):
    """Why a /start payload credited nobody."""

    UNKNOWN = "unknown"  # not one of our codes, or its offer ended
    SELF = "self"  # the user's own link
    REPEAT = "repeat"  # not a new user: first touch only
    BANNED = "banned"  # the link's owner is banned


@dataclass(frozen=True, slots=True)
class StartOutcome:
    """What a /start did: whether it was the user's first, and whom it credited."""

    first_start: bool
    referrer_id: int | None = None
    refused: Refused | None = None  # why a payload did not count


@dataclass(frozen=True, slots=True)
class ReferralNotice:
    """New referrals not yet told to their referrer, folded into one message."""

    referrer_id: int
    referrer_tg_id: int
    referrer_language: str | None
    referrer_tg_language: str | None
    total: int
    last_id: int
    wants_news: bool
    names: list[str] = field(default_factory=list)
    subs: list[str | None] = field(default_factory=list)  # the sub-link of each name


class ReferralService:
    """Records referrals before anything else in /start can fail, and never twice."""

    def __init__(self, races: Scoring | None = None) -> None:
        self.races = races

    @staticmethod
    async def _link(payload: Payload | None) -> Link | None:
        """The link a payload names, if it is one of ours and its offer still runs."""
        if payload is None:
            return None
        link = await Link.get_or_none(code=payload.code).select_related("affiliate", "offer")
        if link is None or (link.offer is not None and not link.offer.is_active):
            return None
        return link

    @staticmethod
    def _refusal(link: Link | None, user: Affiliate, first: bool) -> Refused | None:
        """Why this start credits nobody (first touch, new users only, never yourself)."""
        if link is None:
            return Refused.UNKNOWN
        if link.affiliate_id == user.id:
            return Refused.SELF
        if not first:
            return Refused.REPEAT
        if link.affiliate.is_banned:
            return Refused.BANNED
        return None

    async def register_start(self, user: Affiliate, raw_payload: str | None) -> StartOutcome:
        payload = parse_payload(raw_payload)
        async with in_transaction():
            now = datetime.now(UTC)
            first = await Affiliate.filter(id=user.id, started_at__isnull=True).update(
                started_at=now
            )
            if first:
                user.started_at = now
            if not raw_payload:
                return StartOutcome(bool(first))
            link = await self._link(payload)
            refused = self._refusal(link, user, bool(first))
            if refused is not None or link is None or payload is None:
                return StartOutcome(bool(first), refused=refused)
            sub = payload.sub
            if sub and not await LinkService().has_sublink(link.affiliate_id, sub):
                sub = None
            try:
                async with in_transaction():
                    await Referral.create(
                        referrer_id=link.affiliate_id, referred_id=user.id, link=link, sub=sub
                    )
                    if self.races is not None:
                        await self.races.apply(
                            [
                                ScoreEvent(
                                    RaceMetric.REFERRALS,
                                    link.affiliate_id,
                                    link.offer_id,
                                    now,
                                    final=1,
                                )
                            ]
                        )
            except IntegrityError:  # the unique referred_id: credited already
                return StartOutcome(True, refused=Refused.REPEAT)
            return StartOutcome(True, referrer_id=link.affiliate_id)

    async def count_for(self, affiliate_id: int) -> int:
        return await Referral.filter(referrer_id=affiliate_id).count()

    async def referrers_waiting(self, older_than: timedelta) -> list[int]:
        """Referrers with referrals not yet announced, the newest older than `older_than`."""
        cutoff = datetime.now(UTC) - older_than
        rows = await Referral.filter(notified_at__isnull=True, created_at__lte=cutoff).values_list(
            "referrer_id", flat=True
        )
        return sorted({cast(int, r) for r in rows})

    async def pending_notice(self, referrer_id: int, limit: int = 10) -> ReferralNotice | None:
        """The waiting referrals of one referrer: how many, up to which id, the first names."""
        waiting = Referral.filter(referrer_id=referrer_id, notified_at__isnull=True)
        last_id = await waiting.order_by("-id").first().values_list("id", flat=True)
        if last_id is None:
            return None
        waiting = waiting.filter(id__lte=last_id)  # one consistent batch, whatever arrives now
        total = await waiting.count()
        rows = await waiting.order_by("id").limit(limit).select_related("referred", "referrer")
        if not rows:
            return None
        referrer = rows[0].referrer
        return ReferralNotice(
            referrer_id=referrer.id,
            referrer_tg_id=referrer.tg_id,
            referrer_language=referrer.language,
            referrer_tg_language=referrer.tg_language,
            total=total,
            wants_news=reachable(referrer, Category.REFERRALS),
            last_id=cast(int, last_id),
            names=[r.referred.display_name for r in rows],
            subs=[r.sub for r in rows],
        )

    async def mark_notified(self, referrer_id: int, up_to_id: int) -> None:
        await Referral.filter(
            referrer_id=referrer_id, id__lte=up_to_id, notified_at__isnull=True
        ).update(notified_at=datetime.now(UTC))
