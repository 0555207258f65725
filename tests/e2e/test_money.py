"""Channel joins, conversion notices, stats, balance and payouts, as users live them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiogram.methods import SendChatAction, SendPhoto
from aiogram.types import BufferedInputFile

from bot.services.conversions import Claim
from keyboards.callbacks import (
    BalanceAction,
    BalanceCallback,
    MenuAction,
    MenuCallback,
    StatsCallback,
)
from models import Affiliate, Conversion, ConversionStatus, LedgerEntry, Link, Offer, OfferKind
from tests.factories import Factory, race_draft
from tests.stack import ADMIN_ID, Stack
from tests.telegram import member_update

CHANNEL = -1001234567890


def sent_to(stack: Stack, chat_id: int) -> list[str]:
    return stack.session.texts_to(chat_id)


async def channel_offer(factory: Factory) -> Offer:
    offer = await factory.offer("Channel", kind=OfferKind.CHANNEL, url=None)
    await Offer.filter(id=offer.id).update(channel_id=CHANNEL, payout_minor=50, hold_days=3)
    return await Offer.get(id=offer.id)


async def test_channel_join_through_the_invite_counts_and_an_early_leave_undoes_it(
    stack: Stack, factory: Factory
) -> None:
    await channel_offer(factory)
    rita = stack.tg.user(10, first_name="Rita")
    await rita.send("/start")
    links = await rita.press(MenuCallback(action=MenuAction.LINKS).pack())
    invite = next(line for line in links.text.splitlines() if "t.me/+inv" in line)
    invite = invite.removeprefix("<code>").removesuffix("</code>")

    await stack.tg.feed(member_update(CHANNEL, 77, "left", "member", invite))
    await stack.tg.feed(member_update(CHANNEL, 77, "left", "member", invite))  # repeated
    await stack.tg.feed(member_update(CHANNEL, 10, "left", "member", invite))  # herself
    joined = await Conversion.all().values_list("event", "status")
    await stack.tg.feed(member_update(CHANNEL, 77, "member", "left"))

    assert joined == [("join", "pending")]
    assert not await Affiliate.exists(tg_id=77)  # joiners are not made affiliates
    assert await Conversion.all().values_list("status", flat=True) == ["rejected"]
    assert invite.startswith("https://t.me/+inv")  # the card shows her own invite link


async def test_invite_link_is_made_once_per_affiliate(stack: Stack, factory: Factory) -> None:
    await channel_offer(factory)
    rita = stack.tg.user(10)
    await rita.send("/start")

    first = await rita.press(MenuCallback(action=MenuAction.LINKS).pack())
    second = await rita.press(MenuCallback(action=MenuAction.LINKS).pack())

    made = [r for r in stack.session.requests if type(r).__name__ == "CreateChatInviteLink"]
    assert len(made) == 1
    assert first.text == second.text


async def test_conversions_are_told_folded_into_one_message(
    database: str, redis: object, factory: Factory
) -> None:
    from tests.stack import build_stack

    stack = await build_stack(database, redis, REFERRAL_NOTIFY_DELAY=0.3)  # type: ignore[arg-type]
    offer = await factory.offer("Casino")  # a pending one waits out its week's hold
    aff = await factory.affiliate(tg_id=20)
    link = await factory.link(aff, offer)
    for txid, status in (("a", ConversionStatus.APPROVED), ("b", ConversionStatus.PENDING)):
        outcome = await stack.services.conversions.record(
            Claim(offer, link, None, None, txid, "deposit", 0, "USD", status)
        )
        stack.services.notifier.conversion_stored(outcome.affiliate_id or 0)
    await asyncio.sleep(0.6)
    await stack.deliver()

    assert sent_to(stack, 20) == [
        "💸 New conversions:\n+$2.50 — deposit — Casino\n+$2.50 — deposit — Casino (pending)"
    ]
    await stack.services.notifier.close()
    await stack.services.click_loader.close()


async def test_news_arriving_during_a_flush_is_sent_too(stack: Stack, factory: Factory) -> None:
    from bot.telegram.sender import Pacer
    from tests.integration.test_outbox import FakeTime

    time = FakeTime()  # the second message to the chat waits a (fake) second for its turn
    stack.services.sender.pacer = Pacer(30, clock=time.clock, sleep=time.sleep)
    offer = await factory.offer("Casino")
    aff = await factory.affiliate(tg_id=21)
    link = await factory.link(aff, offer)
    for txid in ("a", "b", "c"):
        await stack.services.conversions.record(
            Claim(offer, link, None, None, txid, "deposit", 0, "USD", ConversionStatus.APPROVED)
        )
        stack.services.notifier.conversion_stored(aff.id)
        await asyncio.sleep(0)
    await asyncio.sleep(0.2)
    await stack.deliver()

    told = "\n".join(sent_to(stack, 21))
    assert told.count("+$2.50") == 3
    assert await Conversion.filter(notified_at__isnull=True).count() == 0


async def test_stats_periods_and_chart(stack: Stack, factory: Factory) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")

    week = await alice.press(StatsCallback(period="7d").pack())
    bad = await alice.press("sx:1y:0")  # a period that is no more
    chart = await alice.press(StatsCallback(period="7d", chart=True).pack())

    assert "Your numbers for the last 7 days" in week.text
    assert "• 7 days" in week.buttons
    assert bad.alert is not None and bad.alert.startswith("This button is out of date.")
    photo = next(r for r in chart.requests if isinstance(r, SendPhoto))
    assert isinstance(photo.photo, BufferedInputFile) and photo.photo.data.startswith(b"\x89PNG")
    action = next(r for r in chart.requests if isinstance(r, SendChatAction))  # while it draws
    assert action.action == "upload_photo"
    assert chart.requests.index(action) < chart.requests.index(photo)
    assert photo.caption == "📈 Earnings and conversions per day, the last 7 days"  # as picked
    today = await alice.press(StatsCallback(period="today", chart=True).pack())
    hourly = next(r for r in today.requests if isinstance(r, SendPhoto))
    assert hourly.caption == "📈 Earnings and conversions per hour, today"


async def give(stack: Stack, factory: Factory, tg_id: int, minor: int) -> Affiliate:
    offer = await factory.offer()
    await Offer.filter(id=offer.id).update(payout_minor=minor)
    offer = await Offer.get(id=offer.id)
    aff = await Affiliate.get(tg_id=tg_id)
    link = await Link.create(affiliate=aff, offer=offer, code=f"x{tg_id:07d}")
    await stack.services.conversions.record(
        Claim(offer, link, None, None, f"g{tg_id}", "sale", 0, "USD", ConversionStatus.APPROVED)
    )
    return aff


async def test_payout_request_dialog_then_admin_approves(stack: Stack, factory: Factory) -> None:
    alice = stack.tg.user(1, first_name="Alice")
    await alice.send("/start")
    await give(stack, factory, 1, 2500)

    balance = await alice.press(MenuCallback(action=MenuAction.BALANCE).pack())
    ask = await alice.press(balance.button("Request payout"))
    photo = await alice.send_sticker()
    confirm = await alice.send("USDT TRC20 TXyz")
    done = await alice.press(confirm.button("Send the request"))
    twice = await alice.press(confirm.button("Send the request"))
    listing = await stack.tg.user(ADMIN_ID).send("/payouts")
    approved = await stack.tg.user(ADMIN_ID).send("/payout_ok 1")
    await stack.deliver()

    assert "available <b>$25.00</b>" in balance.text
    assert "payout details" in ask.text
    assert photo.text == "Please send the payout details as text."
    assert "USDT TRC20 TXyz" in confirm.text
    assert "Payout request #1 for $25.00 sent" in done.text
    assert twice.alert == "This button is out of date."
    assert "USDT TRC20 TXyz" in listing.text
    assert "Alice (id 1)" in listing.text and "tg 1" not in listing.text  # named
    assert "Payout #1 approved." in approved.messages[0].text  # type: ignore[union-attr]
    assert sent_to(stack, 1)[-1] == "✅ Your payout of $25.00 was approved and is on its way."
    assert sum(await LedgerEntry.all().values_list("amount_minor", flat=True)) == 0


async def test_balance_below_minimum_offers_no_payout(stack: Stack, factory: Factory) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")
    await give(stack, factory, 1, 500)

    balance = await alice.press(MenuCallback(action=MenuAction.BALANCE).pack())
    forged = await alice.press(
        BalanceCallback(action=BalanceAction.CONFIRM, currency="USD").pack()
    )

    assert "Payouts start from $10.00." in balance.text
    assert not any("Request payout" in b for b in balance.buttons)
    assert forged.alert == "This button is out of date."


async def test_history_pages(stack: Stack, factory: Factory) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")
    aff = await Affiliate.get(tg_id=1)
    for i in range(12):
        await LedgerEntry.create(
            affiliate=aff,
            kind="adjustment",
            amount_minor=100 + i,
            currency="USD",
            key=f"k{i}",
            note="bonus",
        )

    page0 = await alice.press(BalanceCallback(action=BalanceAction.HISTORY).pack())
    page1 = await alice.press(BalanceCallback(action=BalanceAction.HISTORY, page=1).pack())

    assert page0.text.count("adjustment") == 10 and "+$1.11" in page0.text
    assert page1.text.count("adjustment") == 2 and "+$1.00" in page1.text
    assert "▶️" in page0.buttons and "◀️" in page1.buttons


async def test_admin_configures_an_offer_and_reads_its_postback(stack: Stack) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/offer_add url 1 USD https://x.test/?c={click_id} Shop")

    replies = [
        await admin.send("/offer_edit 1 hold 7"),
        await admin.send("/offer_edit 1 revshare 12.5"),
        await admin.send("/offer_edit 1 event deposit=5.00"),
        await admin.send("/offer_edit 1 status paid=approved"),
        await admin.send("/offer_edit 1 ips 1.2.3.4, 10.0.0.0/8"),
        await admin.send("/offer_edit 1 revshare 150"),
        await admin.send("/offer_edit 1 ips not-an-ip"),
        await admin.send("/offer_edit 1 hold -1"),
    ]
    postback = await admin.send("/offer_postback 1")

    offer = await Offer.get(id=1)
    assert (offer.hold_days, offer.revshare_bp) == (7, 1250)
    assert offer.event_payouts == {"deposit": 500} and offer.status_map == {"paid": "approved"}
    assert offer.ip_allowlist == "1.2.3.4,10.0.0.0/8"
    assert replies[5].text == "Give a percentage from 0 to 100, e.g. 12.5"
    assert replies[6].text.startswith("Give addresses or networks")
    assert replies[7].text == "Give a whole number from 0 to 365."
    assert "https://aff.example/postback/1?click_id={click_id}" in postback.text
    assert offer.secret in postback.text and (offer.token or "-") in postback.text


async def test_leave_after_the_hold_keeps_the_join(stack: Stack, factory: Factory) -> None:
    offer = await channel_offer(factory)
    rita = await factory.affiliate(tg_id=10)
    link = await factory.link(rita, offer)
    from models import ChannelInvite

    await ChannelInvite.create(offer=offer, link=link, invite_link="https://t.me/+fixed")
    await stack.tg.feed(member_update(CHANNEL, 77, "left", "member", "https://t.me/+fixed"))
    await Conversion.all().update(created_at=datetime.now(UTC) - timedelta(days=4))
    await stack.services.conversions.approve_due()

    await stack.tg.feed(member_update(CHANNEL, 77, "member", "left"))

    assert await Conversion.all().values_list("status", flat=True) == ["approved"]
    assert await LedgerEntry.all().values_list("amount_minor", flat=True) == [50]


async def test_a_burst_of_notices_to_many_affiliates_keeps_the_overall_pace(
    stack: Stack, factory: Factory
) -> None:
    from bot.telegram.sender import Pacer
    from tests.integration.test_outbox import FakeTime

    time = FakeTime()
    stamps: list[float] = []
    real = stack.session.make_request

    async def stamped(bot, method, timeout=None):  # type: ignore[no-untyped-def]
        stamps.append(time.now)
        return await real(bot, method, timeout)

    stack.session.make_request = stamped  # type: ignore[method-assign]
    stack.services.sender.pacer = Pacer(30, clock=time.clock, sleep=time.sleep)
    offer = await factory.offer("Casino")
    people = [await factory.affiliate(tg_id=500 + i) for i in range(45)]
    for aff in people:
        link = await factory.link(aff, offer)
        await stack.services.conversions.record(
            Claim(
                offer, link, None, None, f"t{aff.id}", "sale", 0, "USD", ConversionStatus.APPROVED
            )
        )

    told = await asyncio.gather(
        *(stack.services.notifier.flush_conversions(aff.id) for aff in people)
    )
    await stack.deliver(seconds=60)

    assert all(told) and len(stamps) == 45
    assert max(sum(1 for s in stamps if start <= s < start + 1.0) for start in stamps) <= 30


async def test_a_decision_without_its_number_says_which_number_is_missing(stack: Stack) -> None:
    admin = stack.tg.user(ADMIN_ID)

    payout = await admin.send("/payout_ok")
    review = await admin.send("/review_no abc")

    assert payout.text == "Give the payout request's number, e.g. /payout_ok 3 (see /payouts)"
    assert review.text == "Give the conversion's number, e.g. /review_no 3 (see /reviews)"


async def test_stats_name_the_bot_link_and_write_money_and_percentages_for_the_locale(
    stack: Stack, factory: Factory
) -> None:
    from models import Link

    users = {41: stack.tg.user(41), 42: stack.tg.user(42, language_code="ru")}
    for tg_id, user in users.items():
        await user.send("/start")
        aff = await Affiliate.get(tg_id=tg_id)
        bot_link = await Link.get(affiliate_id=aff.id, offer_id=None)
        offer = await factory.offer("Shop")
        link = await factory.link(aff, offer)
        await stack.services.clicks.track(bot_link.code, None, "1.1.1.1", "Firefox")
        await stack.services.clicks.track(link.code, None, "1.1.1.1", "Firefox")
        await stack.load_clicks()
        await stack.services.conversions.record(
            Claim(
                offer, link, None, None, f"s{tg_id}", "sale", 0, "USD", ConversionStatus.APPROVED
            )
        )
    newcomer = stack.tg.user(43)
    await newcomer.send("/start")

    english = await users[41].press(StatsCallback(period="today").pack())
    russian = await users[42].press(StatsCallback(period="today").pack())
    empty = await newcomer.press(StatsCallback(period="today").pack())

    lines = english.text.splitlines()
    assert "👆 Clicks: 2 (unique 2)" in lines
    assert "✅ Conversions: 1 · CR 50.0%" in lines  # one conversion per two unique clicks
    assert "💰 Earned: $2.50 · EPC $1.25" in lines
    assert "• <b>Bot link</b>" in lines and "• <b>Shop</b>" in lines and "• <b>—</b>" not in lines
    assert "      clicks 1 (1 unique) · referrals 0 · conversions 0 · $0.00" in lines  # bot link
    assert "✅ Конверсии: 1 · CR 50,0\xa0%" in russian.text
    assert "• <b>Ссылка на бота</b>" in russian.text and "2,50\xa0$" in russian.text
    assert "💰 Earned: $0.00 · EPC —" in empty.text.splitlines()


async def test_an_adjustment_tells_the_affiliate_why_and_the_admin_the_new_balance(
    stack: Stack, factory: Factory
) -> None:
    alice = stack.tg.user(1, first_name="Alice", username="alice")
    await alice.send("/start")
    await give(stack, factory, 1, 2500)
    admin = stack.tg.user(ADMIN_ID)

    question = await admin.send("/adjust 1 -5.00 USD refund of a duplicate sale")
    answer = await admin.press(question.button("Yes, adjust"))
    bonus = await admin.press((await admin.send("/adjust 1 1.50 USD welcome bonus")).button("Yes"))
    await stack.deliver()

    assert question.text == (
        "Adjust the balance of Alice (@alice, id 1) by -$5.00? They are told: refund of a "
        "duplicate sale"
    )
    assert answer.text == (
        "✅ Adjustment #2: -$5.00 for Alice (@alice, id 1). Their balance is now $20.00."
    )
    assert "Their balance is now $21.50." in bonus.text
    told = sent_to(stack, 1)
    assert (
        "💼 Your balance was adjusted by -$5.00.\nReason: refund of a duplicate sale\n"
        "Available now: $20.00" in told
    )
    assert any(t.startswith("💼 Your balance was adjusted by +$1.50.") for t in told)


async def test_a_rejected_payout_tells_the_reason(stack: Stack, factory: Factory) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")
    await give(stack, factory, 1, 2500)
    ask = await alice.press(
        (await alice.press(MenuCallback(action=MenuAction.BALANCE).pack())).button(
            "Request payout"
        )
    )
    assert "payout details" in ask.text
    confirm = await alice.send("USDT TRC20 TXyz")
    await alice.press(confirm.button("Send the request"))

    admin = stack.tg.user(ADMIN_ID)
    question = await admin.send("/payout_no 1 the wallet address is not valid")
    assert await LedgerEntry.filter(kind="payout_return").count() == 0  # asked, not done
    await admin.press(question.button("Yes, reject it"))
    await stack.deliver()

    assert sent_to(stack, 1)[-1] == (
        "❌ Your payout request of $25.00 was declined; the money is back on your balance."
        "\nReason: the wallet address is not valid"
    )


async def test_history_says_what_each_row_was_for(stack: Stack, factory: Factory) -> None:
    from bot.services.races import ScoreEvent
    from models import RaceMetric

    alice = stack.tg.user(1)
    await alice.send("/start")
    me = await give(stack, factory, 1, 2500)  # an approved conversion on an offer
    now = datetime.now(UTC)
    race = await stack.services.races.create(race_draft(prizes=[(1, "", 1000)]))
    await stack.services.races.scoring.apply(
        [ScoreEvent(RaceMetric.REFERRALS, me.id, None, now, final=3)]
    )
    await stack.services.races.finish_now(race.id)
    admin = stack.tg.user(ADMIN_ID)
    await admin.press((await admin.send("/adjust 1 1.00 USD welcome bonus")).button("Yes"))

    history = await alice.press(BalanceCallback(action=BalanceAction.HISTORY).pack())

    lines = history.text.splitlines()
    offer_title = (await Offer.get(id=(await Conversion.get(affiliate_id=me.id)).offer_id)).title
    assert any(line.endswith(f"+$25.00 earning · {offer_title}") for line in lines), lines
    assert any(line.endswith("+$10.00 prize · Winter cup, #1") for line in lines), lines
    assert any(line.endswith("+$1.00 adjustment — welcome bonus") for line in lines), lines
    assert all(len(line.split(" ")[1]) == len("07:22") for line in lines[2:])  # date and time


async def test_with_no_hold_a_pending_conversion_is_approved_and_told_so_at_once(
    stack: Stack, factory: Factory
) -> None:
    offer = await factory.offer("Casino", hold_days=0)
    aff = await factory.affiliate(tg_id=25)
    link = await factory.link(aff, offer)

    answer = await stack.services.conversions.record(
        Claim(offer, link, None, None, "p-0", "deposit", 0, "USD", ConversionStatus.PENDING)
    )
    stack.services.notifier.conversion_stored(aff.id)
    await asyncio.sleep(0.05)
    await stack.deliver()

    assert answer.status is ConversionStatus.APPROVED
    assert await LedgerEntry.filter(affiliate_id=aff.id, kind="earning").count() == 1
    assert sent_to(stack, 25) == ["💸 New conversion:\n+$2.50 — deposit — Casino"]


async def test_rate_and_offer_edit_read_money_the_same_way(stack: Stack, factory: Factory) -> None:
    from models import AffiliateRate

    offer = await factory.offer("Shop")  # pays in USD
    alice = stack.tg.user(1)
    await alice.send("/start")
    admin = stack.tg.user(ADMIN_ID)

    bare = await admin.send(f"/rate 1 {offer.id} payout 3.00")
    coded = await admin.send(f"/rate 1 {offer.id} payout 4.00 USD")
    other = await admin.send(f"/rate 1 {offer.id} payout 4.00 EUR")
    edit_bare = await admin.send(f"/offer_edit {offer.id} payout 2.75")
    edit_coded = await admin.send(f"/offer_edit {offer.id} payout 3.10 USD")

    assert bare.text == coded.text == "✅ Rate saved."
    assert other.text == "This offer pays in USD: give the amount in USD."
    rate = await AffiliateRate.get(offer_id=offer.id)
    assert rate.payout_minor == 400  # the refused EUR amount changed nothing
    assert "updated" in edit_bare.text.lower() and "updated" in edit_coded.text.lower()
    assert (await Offer.get(id=offer.id)).payout_minor == 310


async def test_admins_hear_of_a_new_payout_request_unless_they_turned_it_off(
    stack: Stack, factory: Factory
) -> None:
    from keyboards.callbacks import SettingsAction, SettingsCallback

    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    for tg_id, name in ((1, "Alice"), (2, "Bob")):
        user = stack.tg.user(tg_id, first_name=name)
        await user.send("/start")
        await give(stack, factory, tg_id, 2500)
        if tg_id == 2:  # the admin turns these off before Bob asks
            await admin.press(
                SettingsCallback(action=SettingsAction.NOTIFY, value="0admin").pack()
            )
        ask = await user.press(
            (await user.press(MenuCallback(action=MenuAction.BALANCE).pack())).button(
                "Request payout"
            )
        )
        assert "payout details" in ask.text
        confirm = await user.send("USDT TRC20 TXyz")
        await user.press(confirm.button("Send the request"))
    await stack.deliver()

    told = [t for t in sent_to(stack, ADMIN_ID) if "New payout request" in t]
    assert told == ["💸 New payout request #1: $25.00 from Alice (id 1). See /payouts"]
