"""The admin panel as admins use it: buttons, not commands; every screen has Back; every
action is in the audit log; to anyone else it does not exist."""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiogram.methods import DeleteMyCommands, SetMyCommands

from bot.services.conversions import Claim
from keyboards.callbacks import AdminAction, AdminCallback
from models import (
    Affiliate,
    AuditEntry,
    Click,
    Conversion,
    ConversionStatus,
    Link,
    Offer,
    PayoutRequest,
    PayoutStatus,
    Race,
    RaceStatus,
)
from tests.factories import Factory, make_click, race_draft
from tests.stack import ADMIN_ID, Stack


async def earned(stack: Stack, factory: Factory, owner: Affiliate, minor: int) -> Offer:
    offer = await factory.offer(hold_days=0)
    await Offer.filter(id=offer.id).update(payout_minor=minor)
    offer = await Offer.get(id=offer.id)
    link = await factory.link(owner, offer)
    await stack.services.conversions.record(
        Claim(offer, link, None, None, f"t{owner.id}", "sale", 0, "USD", ConversionStatus.APPROVED)
    )
    return offer


async def test_the_panel_opens_sections_by_button_and_every_screen_goes_back(
    stack: Stack,
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")

    panel = await admin.send("/admin")
    screens = {}
    names = ("Offers", "Races", "Affiliates", "Payouts", "Reviews", "Postbacks", "Stats", "Audit")
    for name in (*names, "Admins", "Commands"):
        screens[name] = await admin.press(panel.button(name))

    assert panel.text.startswith("🛠 <b>Admin panel</b>")
    assert panel.buttons[:4] == ["🎯 Offers", "🏁 Races", "👥 Affiliates", "💸 Payouts"]
    for name, screen in screens.items():
        back = [b for b in screen.buttons if "Back" in b or "Cancel" in b]
        assert back, f"{name} has no way back"
    home = await admin.press(screens["Audit"].button("Back"))
    assert home.text.startswith("🛠 <b>Admin panel</b>")


async def test_non_admins_see_nothing_of_the_panel_not_even_its_buttons(stack: Stack) -> None:
    mallory = stack.tg.user(66, first_name="Mallory")
    await mallory.send("/start")

    typed = await mallory.send("/admin")
    replies = [
        await mallory.press(AdminCallback(action=action, id=1).pack()) for action in AdminAction
    ]

    assert typed.text.startswith("I don't know that command.")
    for action, reply in zip(AdminAction, replies, strict=True):
        assert reply.alert == "This button is out of date. Open /menu for a fresh one.", action
        assert not reply.messages, action  # nothing shown, nothing said of a panel
    assert await AuditEntry.all().count() == 0


async def test_payouts_approve_reject_with_reason_and_mark_paid_telling_the_affiliate(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID, first_name="Ada", username="ada")
    await admin.send("/start")
    alice = await factory.affiliate(tg_id=21, name="Alice")
    bob = await factory.affiliate(tg_id=22, name="Bob")
    await earned(stack, factory, alice, 2500)
    await earned(stack, factory, bob, 4000)
    first = await stack.services.balance.request_payout(alice, "USD", "wallet-A")
    second = await stack.services.balance.request_payout(bob, "USD", "wallet-B")
    panel = await admin.send("/admin")

    queue = await admin.press(panel.button("Payouts"))
    approved = await admin.press(queue.button(f"✅ #{first.id}"))
    asked = await admin.press(approved.button(f"❌ #{second.id}"))
    rejected = await admin.send("wrong wallet")
    to_pay = await admin.press(rejected.button("Approved, to pay"))
    ask_ref = await admin.press(to_pay.button(f"Mark #{first.id} paid"))
    paid = await admin.send("TX-9981")
    again = await admin.press(to_pay.button(f"Mark #{first.id} paid"))
    twice = await admin.send("TX-9981")
    await stack.deliver()

    assert "Alice (id 21)" in queue.text and "wallet-A" in queue.text and "Bob" in queue.text
    assert approved.text.startswith(f"✅ Payout #{first.id} approved")
    assert "Why is payout" in asked.text and asked.buttons == ["✖️ Cancel"]
    assert rejected.text.startswith(f"❌ Payout #{second.id} rejected")
    assert "Send the reference" in ask_ref.text
    assert paid.text.startswith(f"💸 Payout #{first.id} is marked paid")
    assert again.messages and twice.text == (
        f"Payout request #{first.id} is not waiting to be paid (approve it first)."
    )
    a, b = await PayoutRequest.get(id=first.id), await PayoutRequest.get(id=second.id)
    assert a.status is PayoutStatus.PAID and a.reference == "TX-9981" and a.paid_at is not None
    assert b.status is PayoutStatus.REJECTED and b.note == "wrong wallet"
    told = stack.session.texts_to(21) + stack.session.texts_to(22)
    assert any("approved" in t for t in told) and any("TX-9981" in t for t in told)
    assert any("wrong wallet" in t for t in told)
    actions = await AuditEntry.all().order_by("id").values_list("action", "actor", "target")
    assert actions == [
        ("payout.approve", "Ada @ada", f"payout #{first.id}"),
        ("payout.reject", "Ada @ada", f"payout #{second.id}"),
        ("payout.paid", "Ada @ada", f"payout #{first.id}"),
    ]


async def test_find_an_affiliate_see_the_card_ban_with_a_reason_and_unban(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    alice = await factory.affiliate(tg_id=21, name="Alice", username="alice")
    offer = await earned(stack, factory, alice, 1250)
    link = await Link.get(affiliate_id=alice.id, offer_id=offer.id)
    panel = await admin.send("/admin")

    asked = await admin.press(panel.button("Affiliates"))
    nobody = await admin.send("zzz-nobody")
    by_name = await admin.send("@alice")
    await admin.press(by_name.button("Find someone else"))
    card = await admin.send(link.code)
    ask_reason = await admin.press(card.button("Ban"))
    banned = await admin.send("fake traffic from bots")
    await stack.deliver()
    stack.session.requests.clear()
    alice_tries = await stack.tg.user(21, first_name="Alice").send("/menu")
    redirect_target = await stack.services.clicks.track(link.code, None, "1.2.3.4", "UA")
    await stack.load_clicks()
    unbanned = await admin.press(banned.button("Unban"))

    assert "Send a Telegram id" in asked.text
    assert nobody.text.startswith("Nobody matches")
    assert "Alice (@alice, id 21)" in card.text and "Earned: $12.50" in card.text
    assert by_name.text == card.text  # by @username and by link code alike
    assert "Send the reason" in ask_reason.text
    assert "⛔ Banned: fake traffic from bots" in banned.text
    assert alice_tries.text == (
        "Your access to the programme is suspended.\nReason: fake traffic from bots"
    )
    assert redirect_target.startswith("https://adv.example/land")  # the visitor still goes on
    assert await Click.filter(link_id=link.id).count() == 0  # but nothing is counted
    assert "Banned" not in unbanned.text and "✅ Unbanned" in unbanned.text
    assert (await Affiliate.get(id=alice.id)).is_banned is False
    actions = await AuditEntry.all().order_by("id").values_list("action", flat=True)
    assert actions == ["affiliate.ban", "affiliate.unban"]


async def test_admins_promote_and_demote_others_but_not_themselves_nor_the_configured(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    carol = stack.tg.user(31, first_name="Carol")
    await carol.send("/start")
    panel = await admin.send("/admin")

    screen = await admin.press(panel.button("Admins"))
    asked = await admin.press(screen.button("Add an admin"))
    not_a_number = await admin.send("carol")
    stranger = await admin.send("999999")
    stack.session.requests.clear()
    promoted = await admin.send("31")
    commands_set = [r for r in stack.session.requests if isinstance(r, SetMyCommands)]
    carols_panel = await carol.send("/admin")
    self_demote = await carol.press(AdminCallback(action=AdminAction.DEMOTE, id=31).pack())
    configured = await carol.press(AdminCallback(action=AdminAction.DEMOTE, id=ADMIN_ID).pack())
    stack.session.requests.clear()
    demoted = await admin.press(promoted.button("Remove Carol"))
    commands_removed = [r for r in stack.session.requests if isinstance(r, DeleteMyCommands)]
    gone = await carol.send("/admin")

    assert "🔒" in screen.text and "Send the Telegram id" in asked.text
    assert not_a_number.text == "A Telegram id is a number, e.g. 123456789."
    assert stranger.text == "Nobody with Telegram id 999999 has started the bot yet."
    assert promoted.text.startswith("🛡 Carol (id 31) is now an admin.")
    assert commands_set and all(r.scope.chat_id == 31 for r in commands_set)  # type: ignore[union-attr]
    assert carols_panel.text.startswith("🛠 <b>Admin panel</b>")
    assert self_demote.alert == "You cannot remove yourself: ask another admin."
    assert "configuration" in (configured.alert or "")
    assert demoted.text.startswith("➖ Carol (id 31) is no longer an admin.")
    assert commands_removed
    assert gone.text.startswith("I don't know that command.")
    actions = await AuditEntry.all().order_by("id").values_list("action", "actor_tg_id")
    assert actions == [("admin.promote", ADMIN_ID), ("admin.demote", ADMIN_ID)]


async def test_the_audit_log_pages_newest_first_with_before_and_after(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    actor = await Affiliate.get(tg_id=ADMIN_ID)
    people = [await factory.affiliate(tg_id=100 + i, name=f"P{i}") for i in range(12)]
    for p in people:
        await stack.services.desk.ban(actor, p.id, f"reason {p.tg_id}")
    panel = await admin.send("/admin")

    first = await admin.press(panel.button("Audit"))
    older = await admin.press(first.button("Older"))

    assert first.text.count("affiliate.ban") == 10
    assert f"affiliate #{people[-1].id}" in first.text.split("\n\n")[1]  # newest first
    assert "banned: False → True" in first.text and "reason: reason 111" in first.text
    assert older.text.count("affiliate.ban") == 2 and "Newer" in " ".join(older.buttons)
    assert "Older ▶️" not in older.buttons


async def test_a_ban_stops_postbacks_and_clicks_of_that_affiliate(
    stack: Stack, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=21, name="Alice")
    offer = await factory.offer(hold_days=0)
    link = await factory.link(alice, offer)
    click = await make_click(link)
    actor = await factory.affiliate(tg_id=ADMIN_ID, name="Ada")
    await stack.services.desk.ban(actor, alice.id, "fraud")

    answer = await stack.services.postbacks.postback(
        offer.id,
        {"click_id": click.click_id, "event": "sale", "txid": "T1", "token": "tok-en"},
        "1.2.3.4",
    )

    assert answer.verdict.value == "rejected" and "banned" in (answer.reason or "")


async def test_offers_screen_lists_today_numbers_toggles_and_rotates_only_after_yes(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    offer = await factory.offer(title="Shop")
    link = await factory.link(await factory.affiliate(tg_id=21), offer)
    await make_click(link, seconds_ago=60)
    old_secret = offer.secret
    panel = await admin.send("/admin")

    listing = await admin.press(panel.button("Offers"))
    card = await admin.press(listing.button("#1 Shop"))
    disabled = await admin.press(card.button("Disable"))
    url = await admin.press(disabled.button("Postback URL"))
    asked = await admin.press(disabled.button("New secret"))
    unchanged = (await Offer.get(id=offer.id)).secret
    rotated = await admin.press(asked.button("Yes, rotate it"))

    assert "today: 1 clicks, 0 conversions" in listing.text
    assert "Hold: 7 days" in card.text and "⏸ Disable" in card.buttons
    assert "▶️ Enable" in disabled.buttons and "⚪️" in disabled.text
    assert (await Offer.get(id=offer.id)).is_active is False
    assert f"/postback/{offer.id}" in url.text and old_secret in url.text
    assert "new signing secret" in asked.text and unchanged == old_secret
    assert (await Offer.get(id=offer.id)).secret != old_secret
    assert old_secret not in rotated.text
    actions = await AuditEntry.all().order_by("id").values_list("action", flat=True)
    assert actions == ["offer.active", "offer.secret"]


async def test_reviews_screen_counts_or_rejects_a_held_conversion_after_yes(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    alice = await factory.affiliate(tg_id=21, name="Alice")
    offer = await factory.offer(title="Shop")
    link = await factory.link(alice, offer)
    for txid in ("h1", "h2"):
        await stack.services.conversions.record(
            Claim(
                offer,
                link,
                None,
                None,
                txid,
                "sale",
                0,
                "USD",
                ConversionStatus.PENDING,
                review_reason="fast",
            )
        )
    panel = await admin.send("/admin")

    reviews = await admin.press(panel.button("Reviews (2)"))
    first, second = await Conversion.all().order_by("id")
    counted = await admin.press(reviews.button(f"✅ #{first.id}"))
    asked = await admin.press(counted.button(f"❌ #{second.id}"))
    rejected = await admin.press(asked.button("Yes, reject it"))

    assert "Alice (id 21)" in reviews.text
    assert (await Conversion.get(id=first.id)).status is ConversionStatus.APPROVED
    assert "Reject conversion" in asked.text
    assert "now rejected" in rejected.text
    assert (await Conversion.get(id=second.id)).status is ConversionStatus.REJECTED
    actions = await AuditEntry.all().order_by("id").values_list("action", flat=True)
    assert actions == ["conversion.review", "conversion.review"]


async def test_races_screen_ends_a_running_race_only_after_yes(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    race = await stack.services.races.create(race_draft(title="Cup"))
    await stack.services.races.start_due()
    panel = await admin.send("/admin")

    listing = await admin.press(panel.button("Races"))
    asked = await admin.press(listing.button(f"End #{race.id}"))
    still = (await Race.get(id=race.id)).status
    ended = await admin.press(asked.button("Yes, end it"))

    assert "Cup" in listing.text and f"🗑 Cancel #{race.id}" in listing.buttons
    assert "End race" in asked.text and still is RaceStatus.RUNNING
    assert "ended" in ended.text
    assert (await Race.get(id=race.id)).status is RaceStatus.FINISHED
    assert await AuditEntry.filter(action="race.end").count() == 1


async def test_stats_screen_gives_the_programme_totals_tops_and_a_chart(
    stack: Stack, factory: Factory
) -> None:
    from aiogram.methods import SendPhoto

    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    alice = await factory.affiliate(tg_id=21, name="Alice")
    bob = await factory.affiliate(tg_id=22, name="Bob")
    offer = await factory.offer(title="Shop", hold_days=0)
    await Offer.filter(id=offer.id).update(payout_minor=1000)
    offer = await Offer.get(id=offer.id)
    for who, txids in ((alice, ("a1", "a2")), (bob, ("b1",))):
        link = await factory.link(who, offer)
        for txid in txids:
            await stack.services.conversions.record(
                Claim(
                    offer, link, None, None, txid, "sale", 10_000, "USD", ConversionStatus.APPROVED
                )
            )
    await stack.services.balance.request_payout(alice, "USD", "wallet")
    payout_id = (await PayoutRequest.get(affiliate_id=alice.id)).id
    await stack.services.balance.decide(payout_id, approve=True)
    panel = await admin.send("/admin")

    today = await admin.press(panel.button("Stats"))
    month = await admin.press(today.button("30 days"))
    chart = await admin.press(today.button("Chart"))

    assert "Conversions: 3" in today.text
    assert "Revenue: $300.00" in today.text and "Commission: $30.00" in today.text
    assert "Payouts: $20.00" in today.text
    assert "1. Alice (id 21) · 2" in today.text and "2. Bob (id 22) · 1" in today.text
    assert "1. Shop · 3" in today.text
    assert "• Today" in today.buttons and "• 30 days" in month.buttons
    photos = [r for r in chart.requests if isinstance(r, SendPhoto)]
    assert len(photos) == 1 and "commission and conversions" in (photos[0].caption or "")


def export_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("affrace-export-*")}


async def test_export_sends_a_csv_document_and_leaves_no_file_behind(
    stack: Stack, factory: Factory
) -> None:
    from aiogram.methods import SendDocument

    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    await factory.affiliate(tg_id=21, name="Alice")
    before = export_folders()
    panel = await admin.send("/admin")

    screen = await admin.press(panel.button("Export"))
    sent = await admin.press(screen.button("Affiliates"))

    docs = [r for r in sent.requests if isinstance(r, SendDocument)]
    assert "50 MB" in screen.text and len(screen.buttons) == 7
    assert len(docs) == 1 and docs[0].chat_id == ADMIN_ID
    assert docs[0].document.filename.startswith("affiliates-")  # type: ignore[union-attr]
    assert docs[0].caption is not None and ": 2 rows" in docs[0].caption  # Alice and Ada
    assert export_folders() == before
    assert await AuditEntry.filter(action="export", target="affiliates").count() == 1


async def test_an_affiliates_referrer_is_set_with_a_reason_and_their_own_rate_by_buttons(
    stack: Stack, factory: Factory
) -> None:
    from models import AffiliateRate, Referral

    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    alice = await factory.affiliate(tg_id=21, name="Alice")
    bob = await factory.affiliate(tg_id=22, name="Bob")
    offer = await factory.offer(title="Shop")
    panel = await admin.send("/admin")
    await admin.press(panel.button("Affiliates"))
    card = await admin.send("22")

    asked = await admin.press(card.button("Set the referrer"))
    no_reason = await admin.send("21")
    herself = await admin.send(f"{(await factory.link(bob)).code} his own code")
    assigned = await admin.send("21 came through her channel before the bot")
    await admin.press(assigned.button("Find someone else"))
    alices = await admin.send("21")
    await admin.press(alices.button("Set the referrer"))
    looped = await admin.send("22 the other way round")
    rate_asked = await admin.press(assigned.button("Own rate"))
    bad_rate = await admin.send(f"{offer.id} payout lots")
    rated = await admin.send(f"{offer.id} payout 4.00")

    assert "Who referred Bob (id 22)?" in asked.text
    assert no_reason.text.startswith("Send the referrer's Telegram id or link code, then")
    assert herself.text == "Nobody can be their own referrer."
    assert assigned.text.startswith("🔗 Alice (id 21) is now the referrer.")
    assert "Referred by: Alice (id 21)" in assigned.text
    assert looped.text == "Bob was referred by them: a loop is not allowed."
    referral = await Referral.get(referred_id=bob.id)
    assert referral.referrer_id == alice.id
    assert await Referral.filter(referred_id=bob.id).count() == 1  # replaced, not added
    assert "Own rate" in " ".join(assigned.buttons) and "OFFER_ID payout" in rate_asked.text
    assert bad_rate.text  # a clear refusal, the question stays open
    assert rated.text.startswith("✅ Rate saved.")
    assert (await AffiliateRate.get(affiliate_id=bob.id, offer_id=offer.id)).payout_minor == 400
    actions = await AuditEntry.all().order_by("id").values_list("action", flat=True)
    assert actions == ["referral.assign", "rate.set"]


async def test_a_new_offer_is_made_step_by_step_with_back_a_preview_and_confirm(
    stack: Stack,
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    panel = await admin.send("/admin")
    offers = await admin.press(panel.button("Offers"))

    kind = await admin.press(offers.button("New offer"))
    title = await admin.press(kind.button("A website"))
    currency = await admin.send("Casino sign-ups")
    payout = await admin.press(currency.button("EUR"))
    bad_amount = await admin.send("two euros")
    target = await admin.send("2,50")
    skipped = await admin.press(target.button("Skip"))  # a website needs its URL
    back = await admin.press(target.button("Back"))
    await admin.send("3.00")
    preview = await admin.send("https://casino.example/?cid={click_id}&s={sub}")
    created = await admin.press(preview.button("Create the offer"))
    again = await admin.press(preview.button("Create the offer"))

    assert "What does the affiliate's link lead to?" in kind.text and "Step 1 of 5" in kind.text
    assert "Step 2 of 5" in title.text and "Step 4 of 5" in payout.text
    assert bad_amount.text  # refused, the step stays
    assert "Step 5 of 5" in target.text and "{click_id}" in target.text
    assert "needs the advertiser's URL" in (skipped.alert or "")
    assert "Step 4 of 5" in back.text
    assert "Casino sign-ups" in preview.text and "€3.00" in preview.text
    assert "https://casino.example/?cid={click_id}&amp;s={sub}" in preview.text
    assert created.text.startswith("✅ Offer #1 «Casino sign-ups» is live")
    assert again.alert == "This button is out of date."
    offer = await Offer.get()
    assert (offer.title, offer.kind.value, offer.payout_minor, offer.currency) == (
        "Casino sign-ups",
        "url",
        300,
        "EUR",
    )
    assert offer.target_url == "https://casino.example/?cid={click_id}&s={sub}"
    assert await AuditEntry.filter(action="offer.create").count() == 1


async def test_an_offers_field_is_edited_from_its_screen_and_audited(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    offer = await factory.offer(title="Shop")
    panel = await admin.send("/admin")
    card = await admin.press((await admin.press(panel.button("Offers"))).button("#1 Shop"))

    asked = await admin.press(card.button("✏️ payout"))
    wrong = await admin.send("a lot")
    edited = await admin.send("4.00")

    assert "send the new <b>payout</b>" in asked.text
    assert wrong.text  # refused, the question stays open
    assert edited.text.startswith("✅ Offer updated:") and "$4.00" in edited.text
    assert (await Offer.get(id=offer.id)).payout_minor == 400
    entry = await AuditEntry.get(action="offer.edit")
    assert '"payout_minor": 250' in (entry.before or "")
    assert '"payout_minor": 400' in (entry.after or "")


ADMIN_COMMANDS = (
    "admin",
    "offers",
    "offer_new",
    "offer_add url 1 USD https://x.test Y",
    "offer_edit 1 title Z",
    "offer_on 1",
    "offer_off 1",
    "offer_postback 1",
    "offer_secret 1",
    "rate 1 1 payout 5",
    "reviews",
    "review_ok 1",
    "review_no 1",
    "payouts",
    "payout_ok 1",
    "payout_no 1 x",
    "adjust 1 5 USD x",
    "race_new",
    "races",
    "race_edit 1 title Z",
    "race_cancel 1",
    "race_end 1",
)


async def test_every_admin_command_and_dialog_button_is_nothing_to_anyone_else(
    stack: Stack, factory: Factory
) -> None:
    from keyboards.callbacks import ConfirmCallback, FormAction, FormCallback

    mallory = stack.tg.user(66, first_name="Mallory")
    await mallory.send("/start")
    offer = await factory.offer(title="Shop")

    typed = [await mallory.send(f"/{command}") for command in ADMIN_COMMANDS]
    pressed = [
        await mallory.press(ConfirmCallback(token="abcd1234", yes=True).pack()),
        *[
            await mallory.press(FormCallback(form=form, action=action, value="x").pack())
            for form in ("race", "offer")
            for action in FormAction
        ],
    ]

    for command, reply in zip(ADMIN_COMMANDS, typed, strict=True):
        assert reply.text.startswith("I don't know that command."), command
        assert "admin" not in reply.text.lower(), command  # not even that it exists
    for reply in pressed:
        assert reply.alert is not None and "out of date" in reply.alert
        assert not reply.messages
    assert (await Offer.get(id=offer.id)).title == "Shop" and await Offer.all().count() == 1
    assert await AuditEntry.all().count() == 0
