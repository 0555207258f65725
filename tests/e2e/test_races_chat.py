"""Races as people live them: the card, joining, the leaderboard in both languages, the admin's
dialog, and a whole race run by the scheduler's job with news, channel board and results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiogram.methods import EditMessageText, PinChatMessage, SendMessage

from bot.services.conversions import Claim
from bot.services.races import ScoreEvent
from bot.telegram.sender import OutboxSender, Pacer
from keyboards.callbacks import (
    ConfirmCallback,
    FormAction,
    FormCallback,
    RaceAction,
    RaceCallback,
)
from models import (
    Affiliate,
    ConversionStatus,
    LedgerEntry,
    Outbox,
    Race,
    RaceEntry,
    RaceMetric,
    RaceStatus,
    TieBreak,
)
from scheduler import jobs
from tests.factories import Factory, race_draft
from tests.stack import ADMIN_ID, Stack

CHANNEL = -1009876543210


async def running_race(stack: Stack, **changes: object) -> Race:
    race = await stack.services.races.create(race_draft(**changes))
    await stack.services.races.start_due()
    return await stack.services.races.get(race.id)


async def test_race_card_shows_prizes_rank_gap_and_top(stack: Stack, factory: Factory) -> None:
    race = await running_race(stack)
    alice = stack.tg.user(1, first_name="Alice")
    await alice.send("/start")
    me = await Affiliate.get(tg_id=1)
    leader = await factory.affiliate(name="Leader")
    await stack.services.races.scoring.apply(
        [
            ScoreEvent(RaceMetric.REFERRALS, leader.id, None, datetime.now(UTC), final=5),
            ScoreEvent(RaceMetric.REFERRALS, me.id, None, datetime.now(UTC), final=3),
        ]
    )
    await stack.services.races.tick(race)

    card = await alice.press(RaceCallback(action=RaceAction.SHOW, race_id=race.id).pack())

    assert "Winter cup" in card.text and "Running, ends " in card.text and "(in 23 h" in card.text
    assert "🥇 $50.00 + Hoodie" in card.text
    assert "You: #2 with 3" in card.text
    assert "3 referrals to pass #1" in card.text
    assert "🥇 Leader — <b>5</b> ▰▰▰▰▰▰▰▰" in card.text
    assert "👉 🥈 Alice — <b>3</b>" in card.text


async def test_leaderboard_in_russian_with_masked_names(stack: Stack, factory: Factory) -> None:
    race = await running_race(stack, mask_names=True)
    ivan = stack.tg.user(2, first_name="Иван", language_code="ru")
    await ivan.send("/start")
    for i in range(12):
        aff = await factory.affiliate(name=f"Player{i}")
        await stack.services.races.scoring.apply(
            [ScoreEvent(RaceMetric.REFERRALS, aff.id, None, datetime.now(UTC), final=20 - i)]
        )
    await stack.services.races.tick(race)

    page1 = await ivan.press(RaceCallback(action=RaceAction.BOARD, race_id=race.id).pack())
    page2 = await ivan.press(RaceCallback(action=RaceAction.BOARD, race_id=race.id, page=1).pack())

    assert "Таблица, страница 1" in page1.text
    assert "🥇 Pl*** — <b>20</b>" in page1.text and "Player" not in page1.text
    assert "▶️" in page1.buttons and "◀️" in page2.buttons
    assert "#11 Pl***" in page2.text


async def test_opt_in_race_has_a_join_button(stack: Stack) -> None:
    race = await running_race(stack, opt_in=True)
    alice = stack.tg.user(1)
    await alice.send("/start")

    card = await alice.press(RaceCallback(action=RaceAction.SHOW, race_id=race.id).pack())
    joined = await alice.press(card.button("Join"))
    again = await alice.press(RaceCallback(action=RaceAction.SHOW, race_id=race.id).pack())

    assert "Join to take part." in card.text
    assert "You're in!" in joined.text
    assert not any("Join" in b for b in again.buttons)
    assert await RaceEntry.filter(race_id=race.id).count() == 1


async def test_pending_conversions_are_provisional_until_approved(
    stack: Stack, factory: Factory
) -> None:
    race = await running_race(stack, metric=RaceMetric.CONVERSIONS)
    offer = await factory.offer()
    alice = stack.tg.user(1)
    await alice.send("/start")
    me = await Affiliate.get(tg_id=1)
    link = await factory.link(me, offer)
    outcome = await stack.services.conversions.record(
        Claim(offer, link, None, None, "p1", "sale", 0, "USD", ConversionStatus.PENDING)
    )
    await stack.services.races.tick(race)

    pending = await alice.press(RaceCallback(action=RaceAction.SHOW, race_id=race.id).pack())
    conversion = await factory_conversion(outcome.conversion_id)
    await stack.services.conversions.move(conversion, ConversionStatus.APPROVED)
    await stack.services.races.tick(await stack.services.races.get(race.id))
    final = await alice.press(RaceCallback(action=RaceAction.SHOW, race_id=race.id).pack())

    assert "+1 provisional" in pending.text and "You: #1 with 0" in pending.text
    assert "You: #1 with 1" in final.text and "provisional" not in final.text


async def factory_conversion(conversion_id: int | None):  # type: ignore[no-untyped-def]
    from models import Conversion

    return await Conversion.get(id=conversion_id)


async def test_clicks_and_referrals_score_in_their_races(stack: Stack, factory: Factory) -> None:
    clicks = await running_race(stack, metric=RaceMetric.CLICKS, title="Clicks")
    refs = await running_race(stack, metric=RaceMetric.REFERRALS, title="Refs")
    owner = await factory.affiliate(tg_id=30)
    link = await factory.link(owner, await factory.offer())

    await stack.services.clicks.track(link.code, None, "1.1.1.1", "Mozilla/5.0 Firefox")
    await stack.services.clicks.track(link.code, None, "1.1.1.1", "Mozilla/5.0 Firefox")  # again
    await stack.services.clicks.track(link.code, None, "2.2.2.2", "curl/8")  # a bot
    await stack.load_clicks()
    await stack.load_clicks()  # a spool read twice moves no score twice
    await stack.tg.user(31).send(f"/start {(await factory.link(owner)).code}")

    scores = dict(await RaceEntry.filter(affiliate_id=owner.id).values_list("race_id", "score"))
    assert scores == {clicks.id: 1, refs.id: 1}


async def test_the_scheduler_job_runs_a_whole_race(
    database: str, redis: object, factory: Factory
) -> None:
    from tests.stack import build_stack

    stack = await build_stack(database, redis, RACE_NEWS_COOLDOWN=0)  # type: ignore[arg-type]
    races = stack.services.races
    race = await running_race(stack, announce_chat_id=CHANNEL)
    alice = stack.tg.user(1, first_name="Alice")
    await alice.send("/start")
    me = await Affiliate.get(tg_id=1)
    other = await factory.affiliate(tg_id=2, name="Bob")
    now = datetime.now(UTC)
    await races.scoring.apply(
        [
            ScoreEvent(RaceMetric.REFERRALS, me.id, None, now, final=2),
            ScoreEvent(RaceMetric.REFERRALS, other.id, None, now, final=1),
        ]
    )

    await jobs.tick_races(
        races, stack.services.race_news, stack.services.lease, stack.services.feed
    )
    board_posts = [
        r for r in stack.session.requests if isinstance(r, SendMessage) and r.chat_id == CHANNEL
    ]
    pinned = [r for r in stack.session.requests if isinstance(r, PinChatMessage)]
    await races.scoring.apply([ScoreEvent(RaceMetric.REFERRALS, other.id, None, now, final=5)])
    await jobs.tick_races(
        races, stack.services.race_news, stack.services.lease, stack.services.feed
    )
    edits = [
        r
        for r in stack.session.requests
        if isinstance(r, EditMessageText) and r.chat_id == CHANNEL
    ]
    await Race.filter(id=race.id).update(ends_at=datetime.now(UTC) - timedelta(seconds=1))
    await jobs.tick_races(
        races, stack.services.race_news, stack.services.lease, stack.services.feed
    )
    await jobs.tick_races(
        races, stack.services.race_news, stack.services.lease, stack.services.feed
    )  # a rerun
    sender = OutboxSender(
        stack.bot, stack.services.outbox, stack.services.affiliates, pacer=Pacer(30)
    )
    await sender.drain(seconds=5)

    assert len(board_posts) == 1 and len(pinned) == 1 and len(edits) == 1
    assert "Bob" in edits[0].text and "2 taking part" in edits[0].text
    told = [
        r.text for r in stack.session.requests if isinstance(r, SendMessage) and r.chat_id == 1
    ]
    assert any("You were overtaken in «Winter cup»: now #2." in t for t in told)
    assert any("Your final place: #2 with 2 referrals." in t for t in told)
    bob = [r.text for r in stack.session.requests if isinstance(r, SendMessage) and r.chat_id == 2]
    assert any(
        "Your final place: #1 with 6 referrals." in t and "$50.00 + Hoodie" in t for t in bob
    )
    assert (await races.get(race.id)).status is RaceStatus.FINISHED
    card = await alice.press(RaceCallback(action=RaceAction.SHOW, race_id=race.id).pack())
    assert "Your final place: #2 with 2 referrals." in card.text
    assert "🎁 Your prize: $20.00." in card.text
    assert "to pass" not in card.text and "You: #2" not in card.text  # over: no gap to close
    prizes = (
        await LedgerEntry.filter(kind="prize")
        .order_by("amount_minor")
        .values_list("affiliate_id", "amount_minor")
    )
    assert prizes == [(me.id, 2000), (other.id, 5000)]
    assert await Outbox.filter(key__startswith=f"race{race.id}:result").count() == 2


async def test_admin_dialog_creates_a_race_with_back_and_bad_inputs(
    stack: Stack, factory: Factory
) -> None:
    offer = await factory.offer("Shop")
    admin = stack.tg.user(ADMIN_ID)
    pick = lambda v: FormCallback(form="race", action=FormAction.PICK, value=v).pack()  # noqa: E731
    skip = FormCallback(form="race", action=FormAction.SKIP).pack()
    back = FormCallback(form="race", action=FormAction.BACK).pack()

    start = await admin.send("/race_new")
    long_title = await admin.send("x" * 5000)
    await admin.send("New Year race")
    await admin.press(skip)  # description
    await admin.press(pick("conversions"))
    await admin.press(pick(str(offer.id)))
    await admin.send("now")
    before_start = await admin.send("2020-01-01 10:00")
    await admin.send("+7d")
    ten_thousand = await admin.send("; ".join(f"{i}=1" for i in range(1, 10001)))
    negative = await admin.send("1=-5")
    went_back = await admin.press(back)
    await admin.send("+3d")
    await admin.send("1=100 iPhone; 2=50")
    await admin.press(skip)  # min score
    await admin.press(pick("0"))  # open to all
    await admin.press(pick("split"))
    await admin.press(pick("1"))  # mask names
    preview = await admin.press(skip)  # no channel
    created = await admin.press(FormCallback(form="race", action=FormAction.CONFIRM).pack())

    assert "Step 1 of 12" in start.text and "⬅️ Back" not in start.buttons
    assert long_title.text == "A title is 1–128 characters."
    assert before_start.text == "The end must be after the start."
    assert ten_thousand.text == "At most 100 prize places."
    assert negative.text == "A prize cannot be negative."
    assert "When does it end?" in went_back.text
    assert "Preview" in preview.text and "🥇 $100.00 + iPhone" in preview.text
    assert f"Offer: Shop (#{offer.id})" in preview.text  # named, not only numbered
    assert "has started" in created.text  # it starts now: not "scheduled"
    race = await Race.get(title="New Year race")
    assert race.status is RaceStatus.RUNNING
    assert (race.metric, race.tie_break, race.mask_names) == (
        RaceMetric.CONVERSIONS,
        TieBreak.SPLIT,
        True,
    )
    assert round((race.ends_at - race.starts_at).total_seconds() / 86400) == 3


async def test_below_the_minimum_the_card_and_the_notice_say_there_is_no_prize(
    stack: Stack, factory: Factory
) -> None:
    race = await running_race(stack, min_score=10, metric=RaceMetric.CONVERSIONS)
    alice = stack.tg.user(1, first_name="Alice")
    await alice.send("/start")
    me = await Affiliate.get(tg_id=1)
    outsider = stack.tg.user(5)
    await outsider.send("/start")
    await stack.services.races.scoring.apply(
        [ScoreEvent(RaceMetric.CONVERSIONS, me.id, None, datetime.now(UTC), final=1)]
    )

    await stack.services.races.finish_now(race.id)
    await stack.services.race_news.results(await stack.services.races.get(race.id))
    await stack.deliver()
    card = await alice.press(RaceCallback(action=RaceAction.SHOW, race_id=race.id).pack())
    other = await outsider.press(RaceCallback(action=RaceAction.SHOW, race_id=race.id).pack())

    told = [
        r.text for r in stack.session.requests if isinstance(r, SendMessage) and r.chat_id == 1
    ]
    notice = next(t for t in told if "is over" in t)
    assert "Your final place: #1 with 1 conversion." in notice
    assert "The minimum of 10 conversions was not reached, so there is no prize." in notice
    assert "The minimum of 10 conversions was not reached" in card.text
    assert "You did not take part in this race." in other.text
    assert await LedgerEntry.filter(kind="prize").count() == 0


async def test_admin_dialog_cancel_saves_nothing(stack: Stack) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/race_new")
    await admin.send("Temp")

    cancelled = await admin.press(FormCallback(form="race", action=FormAction.CANCEL).pack())
    later = await admin.send("hello")

    assert "cancelled" in cancelled.text
    assert "I work with buttons" in later.text
    assert await Race.all().count() == 0


async def test_admin_race_commands(stack: Stack) -> None:
    admin = stack.tg.user(ADMIN_ID)
    scheduled = await stack.services.races.create(
        race_draft(
            starts_at=datetime.now(UTC) + timedelta(days=1),
            ends_at=datetime.now(UTC) + timedelta(days=2),
        )
    )

    listing = await admin.send("/races")
    edit = await admin.send(f"/race_edit {scheduled.id} title Bigger cup")
    bad = await admin.send(f"/race_edit {scheduled.id} end 2020-01-01 00:00")
    prizes = await admin.send(f"/race_edit {scheduled.id} prizes 1=10; 2=5")
    ended = await admin.send(f"/race_end {scheduled.id}")
    asked = await admin.send(f"/race_cancel {scheduled.id}")
    still = await Race.get(id=scheduled.id)
    no = await admin.press(asked.button("No"))
    asked = await admin.send(f"/race_cancel {scheduled.id}")
    stale = await admin.press(ConfirmCallback(token="00000000", yes=True).pack())
    cancel = await admin.press(asked.button("Yes, cancel it"))
    twice = await admin.press(asked.button("Yes, cancel it"))
    again = await admin.send(f"/race_cancel {scheduled.id}")
    mallory = await stack.tg.user(3).send("/race_new")

    assert "Winter cup" in listing.text
    assert "updated" in edit.text
    assert bad.text == "The end must be after the start."
    assert prizes.text == "✅ Prizes saved."
    assert ended.text == (  # not started: ending it would only hand out nothing
        f"Race #{scheduled.id} has not started, so nobody has scored: cancel it with "
        f"/race_cancel {scheduled.id} instead."
    )
    assert asked.text.startswith(f"Cancel race #{scheduled.id} «Bigger cup»? Nobody wins")
    assert still.status is RaceStatus.SCHEDULED and no.text == "Nothing was done."
    assert stale.alert == "This button is out of date."
    assert cancel.text == f"Race #{scheduled.id} cancelled."
    assert twice.alert == "This button is out of date."  # pressed again: nothing twice
    assert again.text == f"Race #{scheduled.id} is already over."
    assert (await Race.get(id=scheduled.id)).status is RaceStatus.CANCELLED
    assert mallory.text.startswith("I don't know that command.")
    assert (await Race.get(id=scheduled.id)).title == "Bigger cup"


async def test_race_news_to_one_person_is_throttled(stack: Stack, factory: Factory) -> None:
    race = await running_race(stack)
    alice = stack.tg.user(1, first_name="Alice")
    await alice.send("/start")
    me = await Affiliate.get(tg_id=1)
    rival = await factory.affiliate(name="Rival")
    now = datetime.now(UTC)
    await stack.services.races.scoring.apply(
        [ScoreEvent(RaceMetric.REFERRALS, me.id, None, now, 2)]
    )
    first = await stack.services.races.tick(race)
    await stack.services.race_news.after_tick(first)
    await stack.services.races.scoring.apply(
        [ScoreEvent(RaceMetric.REFERRALS, rival.id, None, now, 5)]
    )
    second = await stack.services.races.tick(await stack.services.races.get(race.id))

    queued = await stack.services.race_news.after_tick(second)

    assert [n.kind for n in second.news if n.affiliate_id == me.id] == ["overtaken"]
    assert queued == 1  # the rival's news; Alice heard from this race a moment ago
    assert await Outbox.filter(chat_id=1).count() == 1


async def test_race_edit_refuses_a_start_in_the_past(stack: Stack) -> None:
    admin = stack.tg.user(ADMIN_ID)
    starts = datetime.now(UTC) + timedelta(days=1)
    race = await stack.services.races.create(
        race_draft(starts_at=starts, ends_at=starts + timedelta(days=1))
    )

    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    past = await admin.send(f"/race_edit {race.id} start {two_days_ago} UTC")
    after_end = await admin.send(f"/race_edit {race.id} start 2099-01-01 00:00")
    unchanged = (await stack.services.races.get(race.id)).starts_at
    now = await admin.send(f"/race_edit {race.id} start now")

    assert past.text == "The start cannot be in the past."
    assert after_end.text == "The end must be after the start."
    assert unchanged == starts.replace(microsecond=starts.microsecond)
    assert "updated" in now.text  # "now" is a start, not the past
    moved = (await stack.services.races.get(race.id)).starts_at
    assert abs(moved - datetime.now(UTC)) < timedelta(minutes=1)


async def test_destructive_admin_commands_ask_first_and_change_nothing_until_yes(
    stack: Stack, factory: Factory
) -> None:
    from models import Conversion, Offer

    admin = stack.tg.user(ADMIN_ID)
    race = await running_race(stack)
    offer = await factory.offer("Shop")
    secret = offer.secret
    link = await factory.link(await factory.affiliate(), offer)
    held = await stack.services.conversions.record(
        Claim(
            offer, link, None, None, "r-1", "sale", 0, "USD", ConversionStatus.APPROVED, "manual"
        )
    )

    end_q = await admin.send(f"/race_end {race.id}")
    secret_q = await admin.send(f"/offer_secret {offer.id}")
    review_q = await admin.send(f"/review_no {held.conversion_id}")
    untouched = (
        (await Race.get(id=race.id)).status,
        (await Offer.get(id=offer.id)).secret,
        (await Conversion.get(id=held.conversion_id)).status,
    )
    stale = await admin.press(end_q.button("Yes"))  # two newer questions came after it
    rejected = await admin.press(review_q.button("Yes, reject it"))
    secret_q = await admin.send(f"/offer_secret {offer.id}")
    rotated = await admin.press(secret_q.button("Yes, rotate it"))
    end_q = await admin.send(f"/race_end {race.id}")
    ended = await admin.press(end_q.button("Yes, end it"))

    assert end_q.text.startswith(f"End race #{race.id} «Winter cup» now? The standings freeze")
    assert "new signing secret" in secret_q.text and "Reject conversion" in review_q.text
    assert untouched == (RaceStatus.RUNNING, secret, ConversionStatus.PENDING)
    assert stale.alert == "This button is out of date."
    assert f"Conversion #{held.conversion_id} is now rejected." in rejected.text
    assert (await Offer.get(id=offer.id)).secret != secret and "secret" in rotated.text.lower()
    assert "ended" in ended.text
    assert (await Race.get(id=race.id)).status is RaceStatus.FINISHED


async def test_race_news_never_arrives_before_the_conversion_notice_that_caused_it(
    database: str, redis: object, factory: Factory
) -> None:
    from tests.stack import build_stack

    # The conversion notice is still folding (30 s) when the tick finds the news.
    stack = await build_stack(database, redis, REFERRAL_NOTIFY_DELAY=30, RACE_NEWS_COOLDOWN=0)  # type: ignore[arg-type]
    await running_race(stack, metric=RaceMetric.CONVERSIONS)
    alice = stack.tg.user(1, first_name="Alice")
    await alice.send("/start")
    me = await Affiliate.get(tg_id=1)
    offer = await factory.offer("Shop", hold_days=0)
    link = await factory.link(me, offer)
    await stack.services.conversions.record(
        Claim(offer, link, None, None, "n-1", "sale", 0, "USD", ConversionStatus.APPROVED)
    )
    stack.services.notifier.conversion_stored(me.id)

    await jobs.tick_races(
        stack.services.races, stack.services.race_news, stack.services.lease, stack.services.feed
    )
    await stack.deliver()

    told = [
        r.text for r in stack.session.requests if isinstance(r, SendMessage) and r.chat_id == 1
    ]
    notice = next(i for i, t in enumerate(told) if "New conversion" in t)
    news = next(i for i, t in enumerate(told) if "prize places" in t)
    assert notice < news, told
    await stack.services.notifier.close()
    await stack.services.click_loader.close()
