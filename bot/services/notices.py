"""News waiting to be told: conversions an affiliate has not heard of yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from bot.services.affiliates import reachable
from models import Affiliate, Category, Conversion, ConversionStatus

SHOWN = 10
TOLD = [ConversionStatus.PENDING, ConversionStatus.APPROVED]


@dataclass(frozen=True, slots=True)
class ConversionItem:
    commission_minor: int
    currency: str
    event: str
    offer_title: str
    pending: bool


@dataclass(frozen=True, slots=True)
class ConversionNotice:
    tg_id: int
    language: str | None
    tg_language: str | None
    wants_news: bool
    total: int
    last_id: int
    items: list[ConversionItem] = field(default_factory=list)


class ConversionNotices:
    async def pending_conversions(self, affiliate_id: int) -> ConversionNotice | None:
        waiting = Conversion.filter(
            affiliate_id=affiliate_id, notified_at__isnull=True, status__in=TOLD
        )
        last_id = await waiting.order_by("-id").first().values_list("id", flat=True)
        if last_id is None:
            return None
        waiting = waiting.filter(id__lte=last_id)  # one consistent batch, whatever arrives now
        total = await waiting.count()
        rows = await waiting.order_by("id").limit(SHOWN).select_related("offer")
        affiliate = await Affiliate.get(id=affiliate_id)
        return ConversionNotice(
            tg_id=affiliate.tg_id,
            language=affiliate.language,
            tg_language=affiliate.tg_language,
            wants_news=reachable(affiliate, Category.CONVERSIONS),
            total=total,
            last_id=cast(int, last_id),
            items=[
                ConversionItem(
                    r.commission_minor,
                    r.currency,
                    r.event,
                    r.offer.title,
                    r.status is ConversionStatus.PENDING,
                )
                for r in rows
            ],
        )

    async def mark_conversions_told(self, affiliate_id: int, up_to_id: int) -> None:
        await Conversion.filter(
            affiliate_id=affiliate_id, id__lte=up_to_id, notified_at__isnull=True
        ).update(notified_at=datetime.now(UTC))

    async def affiliates_waiting(self, older_than: timedelta) -> list[int]:
        cutoff = datetime.now(UTC) - older_than
        rows = await Conversion.filter(
            notified_at__isnull=True, status__in=TOLD, created_at__lte=cutoff
        ).values_list("affiliate_id", flat=True)
        return sorted({cast(int, r) for r in rows})
