"""Commission arithmetic, overrides, the second level, the hold sweep and payouts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.errors import Conflict, InvalidInput
from bot.services.balance import BalanceService
from bot.services.conversions import Claim, ConversionService
from bot.services.ledger import commission
from bot.services.referrals import ReferralService
from models import (
    AffiliateRate,
    Conversion,
    ConversionStatus,
    LedgerEntry,
    Link,
    Offer,
    PayoutStatus,
)
from tests.factories import Factory


def claim(
    offer: Offer,
    link: Link,
    txid: str,
    amount: int = 0,
    event: str = "sale",
    status: ConversionStatus = ConversionStatus.APPROVED,
) -> Claim:
    return Claim(offer, link, None, None, txid, event, amount, offer.currency, status)


def test_commission_is_fixed_plus_revshare_rounded_half_up() -> None:
    offer = Offer(payout_minor=100, revshare_bp=1250, event_payouts={"deposit": 500})

    assert commission(offer, None, "sale", 1000) == 100 + 125
    assert commission(offer, None, "deposit", 1) == 500  # 0.125 rounds to 0
    assert commission(offer, None, "deposit", 4) == 500 + 1  # 0.5 rounds up
    override = AffiliateRate(payout_minor=0, revshare_bp=5000)
    assert commission(offer, override, "deposit", 1000) == 500
    assert commission(offer, AffiliateRate(payout_minor=None, revshare_bp=None), "x", 0) == 100


async def test_second_level_share_goes_to_whoever_referred_the_affiliate(
    factory: Factory,
) -> None:
    offer = await factory.offer()
    await Offer.filter(id=offer.id).update(second_level_bp=1000)
    offer = await Offer.get(id=offer.id)
    boss = await factory.affiliate()
    earner = await factory.affiliate()
    await ReferralService().register_start(earner, (await factory.link(boss)).code)
    link = await factory.link(earner, offer)

    await ConversionService().record(claim(offer, link, "t1"))

    rows = sorted(await LedgerEntry.all().values_list("affiliate_id", "kind", "amount_minor"))
    assert rows == sorted([(earner.id, "earning", 250), (boss.id, "referral_share", 25)])


async def test_per_affiliate_override_applies(factory: Factory) -> None:
    offer = await factory.offer()
    aff = await factory.affiliate()
    link = await factory.link(aff, offer)
    await AffiliateRate.create(affiliate=aff, offer=offer, payout_minor=999)

    await ConversionService().record(claim(offer, link, "t1"))

    assert (await Conversion.get(txid="t1")).commission_minor == 999


async def test_hold_sweep_approves_due_pending_conversions_once(factory: Factory) -> None:
    offer = await factory.offer()
    await Offer.filter(id=offer.id).update(hold_days=7)
    offer = await Offer.get(id=offer.id)
    link = await factory.link(await factory.affiliate(), offer)
    now = datetime.now(UTC)
    service = ConversionService(clock=lambda: now)
    await service.record(claim(offer, link, "old", status=ConversionStatus.PENDING))
    await service.record(claim(offer, link, "new", status=ConversionStatus.PENDING))
    await Conversion.filter(txid="old").update(created_at=now - timedelta(days=8))
    await Conversion.filter(txid="new").update(created_at=now - timedelta(days=2))

    first = await service.approve_due()
    again = await service.approve_due()

    assert len(first) == 1 and again == []
    statuses = dict(await Conversion.all().values_list("txid", "status"))
    assert statuses == {"old": "approved", "new": "pending"}
    assert await LedgerEntry.all().count() == 1


async def test_reviewed_conversion_waits_for_an_admin(factory: Factory) -> None:
    offer = await factory.offer()
    link = await factory.link(await factory.affiliate(), offer)
    service = ConversionService()
    held = Claim(
        offer,
        link,
        None,
        None,
        "r",
        "sale",
        0,
        "USD",
        ConversionStatus.APPROVED,
        review_reason="manual",
    )
    stored = await service.record(held)

    assert stored.status == "pending"
    assert await service.approve_due() == []
    decided = await service.decide_review(stored.conversion_id or 0, approve=True)
    assert decided == "approved"
    assert await LedgerEntry.all().count() == 1


async def earn(factory: Factory, amount_minor: int) -> tuple[object, Link]:
    offer = await factory.offer()
    await Offer.filter(id=offer.id).update(payout_minor=amount_minor)
    offer = await Offer.get(id=offer.id)
    aff = await factory.affiliate()
    link = await factory.link(aff, offer)
    await ConversionService().record(claim(offer, link, f"e{amount_minor}"))
    return aff, link


async def test_payout_request_takes_the_balance_and_rejection_returns_it(
    factory: Factory,
) -> None:
    aff, _link = await earn(factory, 2500)
    balance = BalanceService(minimum=Decimal("10"))

    payout = await balance.request_payout(aff, "USD", "  IBAN   DE00 1234  ")  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        await balance.request_payout(aff, "USD", "again")  # type: ignore[arg-type]
    after_request = (await balance.balances(aff.id))[0]  # type: ignore[attr-defined]
    await balance.decide(payout.id, approve=False, note="wrong IBAN")
    with pytest.raises(Conflict):
        await balance.decide(payout.id, approve=True)

    assert payout.amount_minor == 2500 and payout.details == "IBAN DE00 1234"
    assert after_request.available_minor == 0
    assert (await balance.balances(aff.id))[0].available_minor == 2500  # type: ignore[attr-defined]


async def test_payout_below_minimum_is_refused(factory: Factory) -> None:
    aff, _link = await earn(factory, 500)

    with pytest.raises(InvalidInput) as caught:
        await BalanceService(minimum=Decimal("10")).request_payout(aff, "USD", "x")  # type: ignore[arg-type]

    assert caught.value.params["amount"] == "$10.00"
    assert await LedgerEntry.filter(kind="payout").count() == 0


async def test_approved_payout_stays_paid(factory: Factory) -> None:
    aff, _link = await earn(factory, 1500)
    balance = BalanceService(minimum=Decimal("10"))
    payout = await balance.request_payout(aff, "USD", "wallet")  # type: ignore[arg-type]

    decided = await balance.decide(payout.id, approve=True)

    assert decided.status is PayoutStatus.APPROVED
    assert (await balance.balances(aff.id))[0].available_minor == 0  # type: ignore[attr-defined]


async def test_stats_report_counts_and_daily_chart(factory: Factory) -> None:
    from bot.services.charts import Chart, chart_png
    from bot.services.stats import Period, StatsService
    from tests.factories import make_click

    offer = await factory.offer("Shop")
    aff = await factory.affiliate()
    link = await factory.link(aff, offer)
    for _ in range(4):
        await make_click(link, seconds_ago=60)
    await ConversionService().record(claim(offer, link, "s1"))
    await ConversionService().record(claim(offer, link, "s2", status=ConversionStatus.PENDING))

    report = await StatsService().report(aff.id, Period.TODAY)
    days = await StatsService().buckets(aff.id, Period.MONTH)
    hours = await StatsService().buckets(aff.id, Period.TODAY)
    png = chart_png(Chart(days, 2, ("t", "e", "c")))

    assert (report.total.clicks, report.total.conversions) == (4, 2)
    assert report.total.earnings == {"USD": 250}
    assert report.total.conversion_rate == Decimal("50.0")
    assert [r.label for r in report.offers] == ["Shop"]
    assert (days[-1].conversions, days[-1].earnings_minor) == (2, 250) and len(days) == 30
    assert len(hours) == 24 and sum(h.conversions for h in hours) == 2
    assert hours[datetime.now(UTC).hour].conversions == 2
    assert png.startswith(b"\x89PNG")


async def test_charts_are_drawn_without_stalling_the_event_loop(factory: Factory) -> None:
    """Redirects, postbacks and replies share the loop with chart drawing: three charts
    drawn at once may not hold it for more than a small part of their drawing time."""
    import gc
    import time

    from bot.services.stats import Period, StatsService

    aff = await factory.affiliate()
    stats = StatsService()
    stop = asyncio.Event()
    lags: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            lags.append(now - last - 0.005)
            last = now

    gc.collect()  # a collection of earlier tests' garbage would be a pause of its own
    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    try:
        pngs = await asyncio.gather(
            *(stats.chart(aff.id, Period.MONTH, lambda c: ("t", f"e {c}", "c")) for _ in range(3))
        )
    finally:
        await stats.close()
    drawing = time.perf_counter() - started
    stop.set()
    await ticking

    assert all(p.startswith(b"\x89PNG") for p in pngs)
    # drawn inline, one chart alone held it for about a third; in a thread, up to 70 ms
    assert max(lags) < drawing / 6


async def test_today_in_stats_is_the_viewers_day_in_their_time_zone(factory: Factory) -> None:
    from zoneinfo import ZoneInfo

    from bot.services.stats import Period, StatsService

    offer = await factory.offer("Shop")
    aff = await factory.affiliate()
    link = await factory.link(aff, offer)
    await ConversionService().record(claim(offer, link, "late"))
    # 21:30 UTC on 2 December is 00:30 on the 3rd in Moscow (UTC+3).
    await Conversion.all().update(created_at=datetime(2026, 12, 2, 21, 30, tzinfo=UTC))
    stats = StatsService(clock=lambda: datetime(2026, 12, 2, 22, 0, tzinfo=UTC))

    utc_today = await stats.report(aff.id, Period.TODAY)
    moscow_today = await stats.report(aff.id, Period.TODAY, ZoneInfo("Europe/Moscow"))
    moscow_hours = await stats.buckets(aff.id, Period.TODAY, ZoneInfo("Europe/Moscow"))

    assert utc_today.total.conversions == 1  # the 2nd, in UTC
    assert moscow_today.total.conversions == 1  # the 3rd began at 21:00 UTC in Moscow
    assert moscow_hours[0].conversions == 1 and moscow_hours[0].start.hour == 0
    stats_late = StatsService(clock=lambda: datetime(2026, 12, 3, 20, 59, tzinfo=UTC))
    assert (await stats_late.report(aff.id, Period.TODAY)).total.conversions == 0  # UTC: the 3rd
    moscow_next = await stats_late.report(aff.id, Period.TODAY, ZoneInfo("Europe/Moscow"))
    assert moscow_next.total.conversions == 1  # 23:59 on the 3rd in Moscow: still today
