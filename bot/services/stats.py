"""Stats for an affiliate: clicks, referrals, conversions, earnings by period, and a chart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from io import BytesIO
from typing import Any

from babel.numbers import get_currency_precision

# Imported at start-up, not by the first chart: an import in a thread holds the event loop.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tortoise.functions import Count, Sum

from models import Click, Conversion, ConversionStatus, Referral


class Period(StrEnum):
    TODAY = "today"
    WEEK = "7d"
    MONTH = "30d"
    ALL = "all"


@dataclass
class Row:
    """Numbers for one slice: the whole programme, an offer, or a sub-link. An offer's label
    is its title; None is the affiliate's own bot link (no offer)."""

    label: str | None
    clicks: int = 0
    unique_clicks: int = 0
    referrals: int = 0
    conversions: int = 0
    earnings: dict[str, int] = field(default_factory=dict)  # currency -> minor units

    @property
    def conversion_rate(self) -> Decimal | None:
        """Conversions per unique click, in per cent, one decimal."""
        if not self.unique_clicks:
            return None
        return (Decimal(100 * self.conversions) / self.unique_clicks).quantize(Decimal("0.1"))

    def epc(self, currency: str) -> int | None:
        """Earnings per click in minor units (integer division: display only)."""
        return self.earnings.get(currency, 0) // self.clicks if self.clicks else None


@dataclass
class Report:
    period: Period
    total: Row
    offers: list[Row]
    subs: list[Row]
    currency: str = "USD"  # the affiliate's main currency, for amounts that are zero


DEFAULT_CURRENCY = "USD"
COUNTED = [ConversionStatus.PENDING, ConversionStatus.APPROVED]


class StatsService:
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock

    def since(self, period: Period) -> datetime | None:
        now = self.clock()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return {
            Period.TODAY: midnight,
            Period.WEEK: midnight - timedelta(days=6),
            Period.MONTH: midnight - timedelta(days=29),
            Period.ALL: None,
        }[period]

    async def report(self, affiliate_id: int, period: Period) -> Report:
        since = self.since(period)
        time = {"created_at__gte": since} if since else {}
        total = Row("total")
        offers: dict[str, Row] = {}
        subs: dict[str, Row] = {}

        def rows(offer: str | None, sub: str | None) -> list[Row]:
            found = [total, offers.setdefault(offer or "", Row(offer))]
            if sub:
                found.append(subs.setdefault(sub, Row(sub)))
            return found

        clicks = (
            await Click.filter(link__affiliate_id=affiliate_id, **time)
            .group_by("link__offer__title", "sub", "is_unique")
            .annotate(n=Count("id"))
            .values("link__offer__title", "sub", "is_unique", "n")
        )
        for c in clicks:
            for row in rows(c["link__offer__title"], c["sub"]):
                row.clicks += c["n"]
                row.unique_clicks += c["n"] if c["is_unique"] else 0
        referrals = (
            await Referral.filter(referrer_id=affiliate_id, **time)
            .group_by("link__offer__title", "sub")
            .annotate(n=Count("id"))
            .values("link__offer__title", "sub", "n")
        )
        for r in referrals:
            for row in rows(r["link__offer__title"], r["sub"]):
                row.referrals += r["n"]
        conversions = (
            await Conversion.filter(affiliate_id=affiliate_id, status__in=COUNTED, **time)
            .group_by("offer__title", "sub", "currency", "status")
            .annotate(n=Count("id"), money=Sum("commission_minor"))
            .values("offer__title", "sub", "currency", "status", "n", "money")
        )
        for v in conversions:
            for row in rows(v["offer__title"], v["sub"]):
                row.conversions += v["n"]
                if v["status"] == ConversionStatus.APPROVED:
                    row.earnings[v["currency"]] = row.earnings.get(v["currency"], 0) + int(
                        v["money"] or 0
                    )
        currencies = await self.currencies(affiliate_id)
        return Report(
            period,
            total,
            sorted(offers.values(), key=lambda r: (r.label is None, r.label or "")),
            sorted(subs.values(), key=lambda r: r.label or ""),
            currencies[0] if currencies else DEFAULT_CURRENCY,
        )

    async def chart(
        self, affiliate_id: int, labels: Callable[[str], tuple[str, str, str]]
    ) -> bytes:
        """The 30-day chart as a PNG, in the affiliate's main currency; drawn in a thread so
        that redirects and replies sharing the event loop do not wait for it.
        `labels(currency)` gives the title and the two axis names."""
        days = await self.daily(affiliate_id)
        currencies = await self.currencies(affiliate_id)
        currency = currencies[0] if currencies else "USD"
        precision = get_currency_precision(currency)
        return await asyncio.to_thread(chart_png, days, precision, labels(currency))

    async def currencies(self, affiliate_id: int) -> list[str]:
        """The currencies the affiliate earns in, the most used first."""
        rows = (
            await Conversion.filter(affiliate_id=affiliate_id)
            .group_by("currency")
            .annotate(n=Count("id"))
            .values("currency", "n")
        )
        return [r["currency"] for r in sorted(rows, key=lambda r: -r["n"])]

    async def daily(self, affiliate_id: int, days: int = 30) -> list[tuple[date, int, int]]:
        """(day, conversions, approved earnings in minor units) for the last `days` days."""
        start = (self.clock() - timedelta(days=days - 1)).date()
        rows = await Conversion.filter(
            affiliate_id=affiliate_id,
            status__in=COUNTED,
            created_at__gte=datetime(start.year, start.month, start.day, tzinfo=UTC),
        ).values("created_at", "status", "commission_minor")
        by_day: dict[date, list[int]] = {start + timedelta(days=i): [0, 0] for i in range(days)}
        for row in rows:
            day = row["created_at"].astimezone(UTC).date()
            if day in by_day:
                by_day[day][0] += 1
                if row["status"] == ConversionStatus.APPROVED:
                    by_day[day][1] += row["commission_minor"]
        return [(day, v[0], v[1]) for day, v in sorted(by_day.items())]


def chart_png(
    days: list[tuple[date, int, int]], currency_precision: int, labels: tuple[str, str, str]
) -> bytes:
    """Earnings (bars) and conversions (line) per day, as a PNG. Drawn with a Figure of its
    own (no pyplot, whose global state is not thread-safe), so it can run in a thread."""
    title, earnings_label, conversions_label = labels
    figure = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    x: list[Any] = [d for d, _, _ in days]
    ax.bar(
        x, [m / 10**currency_precision for _, _, m in days], color="#4c8bf5", label=earnings_label
    )
    ax.set_ylabel(earnings_label)
    ax2 = ax.twinx()
    ax2.plot(x, [n for _, n, _ in days], color="#f5a623", marker="o", label=conversions_label)
    ax2.set_ylabel(conversions_label)
    ax2.set_ylim(bottom=0)
    ax.set_title(title)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
