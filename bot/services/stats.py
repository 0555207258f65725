"""Stats for an affiliate: clicks, referrals, conversions, earnings by period, and a chart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum

from babel.numbers import get_currency_precision
from tortoise.functions import Count, Sum

from bot.services.charts import Bucket, Chart, ChartLabels, ChartProcess
from models import (
    Affiliate,
    Click,
    Conversion,
    ConversionStatus,
    PayoutRequest,
    PayoutStatus,
    Referral,
)


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


@dataclass
class Programme:
    """Money in a period by currency (minor units), and the affiliates with most conversions."""

    revenue: dict[str, int]
    commission: dict[str, int]
    payouts: dict[str, int]
    top_affiliates: list[tuple[Affiliate, int]]


TOP = 5
DEFAULT_CURRENCY = "USD"
COUNTED = [ConversionStatus.PENDING, ConversionStatus.APPROVED]


ALL_DAYS_MAX = 365


def _whose(field: str, affiliate_id: int | None) -> dict[str, int]:
    return {} if affiliate_id is None else {field: affiliate_id}


class StatsService:
    def __init__(
        self,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        charts: ChartProcess | None = None,
    ) -> None:
        self.clock = clock
        self.charts = charts or ChartProcess()

    async def close(self) -> None:
        await self.charts.close()

    def since(self, period: Period, where: tzinfo = UTC) -> datetime | None:
        """Where the period starts: "today" is the viewer's day, in their time zone."""
        now = self.clock().astimezone(where)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        start = {
            Period.TODAY: midnight,
            Period.WEEK: midnight - timedelta(days=6),
            Period.MONTH: midnight - timedelta(days=29),
            Period.ALL: None,
        }[period]
        # In UTC: SQLite compares the stored text, which is UTC.
        return start.astimezone(UTC) if start is not None else None

    async def report(
        self, affiliate_id: int | None, period: Period, where: tzinfo = UTC
    ) -> Report:
        """One affiliate's numbers, or (None) the whole programme's."""
        since = self.since(period, where)
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
            await Click.filter(**_whose("link__affiliate_id", affiliate_id), **time)
            .group_by("link__offer__title", "sub", "is_unique")
            .annotate(n=Count("id"))
            .values("link__offer__title", "sub", "is_unique", "n")
        )
        for c in clicks:
            for row in rows(c["link__offer__title"], c["sub"]):
                row.clicks += c["n"]
                row.unique_clicks += c["n"] if c["is_unique"] else 0
        referrals = (
            await Referral.filter(**_whose("referrer_id", affiliate_id), **time)
            .group_by("link__offer__title", "sub")
            .annotate(n=Count("id"))
            .values("link__offer__title", "sub", "n")
        )
        for r in referrals:
            for row in rows(r["link__offer__title"], r["sub"]):
                row.referrals += r["n"]
        conversions = (
            await Conversion.filter(
                **_whose("affiliate_id", affiliate_id), status__in=COUNTED, **time
            )
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
        self,
        affiliate_id: int | None,
        period: Period,
        labels: Callable[[str], ChartLabels],
        locale: str = "en",
        where: tzinfo = UTC,
    ) -> bytes:
        """The chart of the period the user picked (today by hour, else by day) as a PNG, in
        the affiliate's main currency; drawn in the chart process, so that redirects and replies
        sharing the event loop do not wait for it. `labels(currency)` gives the texts."""
        buckets = await self.buckets(affiliate_id, period, where)
        currencies = await self.currencies(affiliate_id)
        currency = currencies[0] if currencies else DEFAULT_CURRENCY
        precision = get_currency_precision(currency)
        hourly = period is Period.TODAY
        return await self.charts.draw(Chart(buckets, precision, labels(currency), locale, hourly))

    async def programme(self, period: Period) -> Programme:
        """The whole programme's money in a period, and who and what brought the most."""
        since = self.since(period)
        time = {"created_at__gte": since} if since else {}
        money = (
            await Conversion.filter(status__in=COUNTED, **time)
            .group_by("currency")
            .annotate(revenue=Sum("amount_minor"), commission=Sum("commission_minor"))
            .values("currency", "revenue", "commission")
        )
        paid = (
            await PayoutRequest.filter(
                status__in=[PayoutStatus.APPROVED, PayoutStatus.PAID], **time
            )
            .group_by("currency")
            .annotate(total=Sum("amount_minor"))
            .values("currency", "total")
        )
        top = (
            await Conversion.filter(status__in=COUNTED, **time)
            .group_by("affiliate_id")
            .annotate(n=Count("id"), earned=Sum("commission_minor"))
            .order_by("-n", "affiliate_id")
            .limit(TOP)
            .values("affiliate_id", "n", "earned")
        )
        people = {a.id: a for a in await Affiliate.filter(id__in=[t["affiliate_id"] for t in top])}
        return Programme(
            revenue={m["currency"]: int(m["revenue"] or 0) for m in money},
            commission={m["currency"]: int(m["commission"] or 0) for m in money},
            payouts={m["currency"]: int(m["total"] or 0) for m in paid},
            top_affiliates=[(people[t["affiliate_id"]], int(t["n"])) for t in top],
        )

    async def currencies(self, affiliate_id: int | None) -> list[str]:
        """The currencies the affiliate (None: anyone) earns in, the most used first."""
        rows = (
            await Conversion.filter(**_whose("affiliate_id", affiliate_id))
            .group_by("currency")
            .annotate(n=Count("id"))
            .values("currency", "n")
        )
        return [r["currency"] for r in sorted(rows, key=lambda r: -r["n"])]

    async def buckets(
        self, affiliate_id: int | None, period: Period, where: tzinfo = UTC
    ) -> list[Bucket]:
        """(start, conversions, approved earnings in minor units) per hour of today, or per
        day of the period (all time: from the first conversion, a year at most), in the
        viewer's time zone."""
        now = self.clock().astimezone(where)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if period is Period.TODAY:
            starts = [midnight + timedelta(hours=h) for h in range(24)]
        else:
            days = {Period.WEEK: 7, Period.MONTH: 30}.get(period)
            if days is None:
                first = (
                    await Conversion.filter(**_whose("affiliate_id", affiliate_id))
                    .order_by("id")
                    .first()
                )
                oldest = first.created_at if first is not None else now
                days = min(max((midnight - oldest).days + 1, 7), ALL_DAYS_MAX)
            starts = [midnight - timedelta(days=days - 1 - i) for i in range(days)]
        step = timedelta(hours=1) if period is Period.TODAY else timedelta(days=1)
        rows = await Conversion.filter(
            **_whose("affiliate_id", affiliate_id),
            status__in=COUNTED,
            created_at__gte=starts[0].astimezone(UTC),
        ).values("created_at", "status", "commission_minor")
        totals = {start: [0, 0] for start in starts}
        for row in rows:
            at = row["created_at"].astimezone(where)
            start = starts[0] + step * ((at - starts[0]) // step)
            if start in totals:
                totals[start][0] += 1
                if row["status"] == ConversionStatus.APPROVED:
                    totals[start][1] += row["commission_minor"]
        return [Bucket(start, n, money) for start, (n, money) in sorted(totals.items())]
