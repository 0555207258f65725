"""Test data built through the same code paths the app uses."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from bot.services.affiliates import AffiliateService, Profile, create_link
from bot.services.races import RaceDraft
from models import Affiliate, Click, Link, Offer, OfferKind, RaceMetric, TieBreak

_ids = itertools.count(5000)


class Factory:
    async def affiliate(
        self, tg_id: int | None = None, name: str = "Bob", **fields: object
    ) -> Affiliate:
        profile = Profile(tg_id=tg_id or next(_ids), first_name=name)
        affiliate, _ = await AffiliateService().load_or_create(profile)
        if fields:
            await Affiliate.filter(id=affiliate.id).update(**fields)
            await affiliate.refresh_from_db()
        return affiliate

    async def offer(
        self,
        title: str = "Shop",
        kind: OfferKind = OfferKind.URL,
        url: str | None = "https://adv.example/land?cid={click_id}&s={sub}",
        active: bool = True,
        hold_days: int = 7,  # pending conversions wait a week (with 0 they are approved at once)
    ) -> Offer:
        return await Offer.create(
            secret="s3cret",
            token="tok-en",
            title=title,
            kind=kind,
            target_url=url if kind is OfferKind.URL else None,
            payout_minor=250,
            currency="USD",
            is_active=active,
            hold_days=hold_days,
        )

    async def link(self, affiliate: Affiliate, offer: Offer | None = None) -> Link:
        if offer is None:
            return await Link.get(affiliate_id=affiliate.id, offer_id=None)
        return await create_link(affiliate, offer.id)


async def make_click(link: Link, *, seconds_ago: int = 3600, is_bot: bool = False) -> Click:
    """A click that happened `seconds_ago`, as the redirect would have stored it."""
    return await Click.create(
        click_id=uuid.uuid4().hex,
        link=link,
        visitor="v",
        is_unique=True,
        is_bot=is_bot,
        created_at=datetime.now(UTC) - timedelta(seconds=seconds_ago),
    )


def race_draft(**changes: object) -> RaceDraft:
    """A race that started a minute ago and runs a day, referrals, two prizes; `changes`
    override any field."""
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "title": "Winter cup",
        "description": "Bring people!",
        "metric": RaceMetric.REFERRALS,
        "offer_id": None,
        "starts_at": now - timedelta(minutes=1),
        "ends_at": now + timedelta(days=1),
        "prizes": [(1, "Hoodie", 5000), (2, "", 2000)],
        "min_score": 0,
        "opt_in": False,
        "tie_break": TieBreak.FIRST,
        "mask_names": False,
        "currency": "USD",
        "announce_chat_id": None,
    }
    values.update(changes)
    return RaceDraft(**values)  # type: ignore[arg-type]
