"""What the random-update test found, one story each: an admin's look-up or referrer typed
longer than a link code, and panel buttons pressed on a message Telegram no longer lets the
bot reach (older than 48 hours: the button's message comes as inaccessible)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from aiogram.types import CallbackQuery, Chat, InaccessibleMessage, Update
from loguru import logger

from keyboards.callbacks import AdminAction, AdminCallback
from models import Affiliate, Broadcast, Race, RaceStatus, Referral
from tests.factories import Factory, race_draft
from tests.stack import ADMIN_ID, Stack
from tests.telegram import Reply, TgUser

SORRY = "Sorry, something went wrong"
_ids = itertools.count(900_000)


@pytest.fixture
def problems() -> Iterator[list[str]]:
    """What the app logged at ERROR or above during the test."""
    records: list[str] = []
    sink = logger.add(lambda m: records.append(str(m)), level="ERROR", format="{message}")
    yield records
    logger.remove(sink)


async def press_on_old_message(user: TgUser, data: str) -> Reply:
    """A button on a message Telegram sends as inaccessible (too old for the bot to touch)."""
    query = CallbackQuery(
        id=str(next(_ids)),
        from_user=user.tg,
        chat_instance="ci",
        message=InaccessibleMessage(chat=Chat(id=user.id, type="private"), message_id=1),
        data=data,
    )
    return await user.client.feed(Update(update_id=next(_ids), callback_query=query))


@pytest.mark.parametrize(
    "typed",
    [
        "1000 5.00 usd fix",  # longer than any link code: the column holds 16
        "٢w4\u200bk_4=б👍iq\ufeff172l8nf",
        "a\x00b",  # PostgreSQL refuses a NUL in text, a query's too
    ],
)
async def test_admin_look_up_of_text_that_is_no_code_finds_nobody(
    stack: Stack, problems: list[str], typed: str
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    panel = await admin.send("/admin")
    await admin.press(panel.button("Affiliates"))

    reply = await admin.send(typed)

    assert reply.text.startswith("Nobody matches")
    assert problems == []


async def test_admin_referrer_typed_longer_than_a_code_is_nobody_politely(
    stack: Stack, factory: Factory, problems: list[str]
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    alice = await factory.affiliate(tg_id=21, name="Alice")
    card = AdminCallback(action=AdminAction.REFERRER, id=alice.id).pack()
    await admin.press(card)

    reply = await admin.send("abcdefghjkmnpqrstuvwxyz came through their channel")

    assert "Nobody has the Telegram id or link code abcdefghjkmnpqrstuvwxyz" in reply.text
    assert SORRY not in reply.text
    assert problems == []
    assert await Referral.filter(referred_id=alice.id).count() == 0


@pytest.mark.parametrize(
    "action", [AdminAction.RACE_END, AdminAction.RACE_CANCEL, AdminAction.OFFER_NEW]
)
async def test_admin_panel_button_on_a_message_out_of_reach_is_out_of_date(
    stack: Stack, problems: list[str], action: AdminAction
) -> None:
    race = await stack.services.races.create(race_draft())
    await stack.services.races.start_due()
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")

    reply = await press_on_old_message(admin, AdminCallback(action=action, id=race.id).pack())

    assert reply.alert == "This button is out of date. Open /admin for a fresh one."
    assert problems == []
    assert (await Race.get(id=race.id)).status is RaceStatus.RUNNING
    assert await stack.dp.fsm.get_context(stack.bot, ADMIN_ID, ADMIN_ID).get_state() is None


async def test_broadcast_sent_from_a_preview_out_of_reach_still_shows_its_progress(
    stack: Stack, problems: list[str]
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    panel = await admin.send("/admin")
    await admin.press(panel.button("Broadcast"))
    await admin.send("Hello all")
    buttons = await admin.send("Open - https://shop.example/")
    preview = await admin.press(buttons.button("Everyone"))

    sent = await press_on_old_message(admin, preview.button("Send it"))

    assert problems == []
    assert SORRY not in str([m.text for m in sent.messages])
    broadcast = await Broadcast.get()
    assert broadcast.total == 1
    assert any(f"Broadcast #{broadcast.id}" in m.text for m in sent.messages)
    assert broadcast.progress_chat_id == ADMIN_ID and broadcast.progress_message_id


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/timezone a<b", "a&lt;b is not a time zone I know."),
        ("/offer_add url 1 <b USD Shop", "&lt;b is not a currency code I know"),
    ],
)
async def test_a_refusal_quoting_what_was_typed_is_valid_html(
    stack: Stack, problems: list[str], command: str, expected: str
) -> None:
    stack.session.strict_html = True  # Telegram refuses a reply whose HTML it cannot parse
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")

    reply = await admin.send(command)

    assert expected in reply.text
    assert stack.session.html_refused == []
    assert problems == []


async def test_a_broadcast_button_line_quoting_html_is_refused_readably(
    stack: Stack, problems: list[str]
) -> None:
    stack.session.strict_html = True
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    panel = await admin.send("/admin")
    await admin.press(panel.button("Broadcast"))
    await admin.send("Hello all")

    reply = await admin.send("<b>Go</b> to https://a.example")

    assert "this is not: &lt;b&gt;Go&lt;/b&gt; to https://a.example" in reply.text
    assert stack.session.html_refused == []


@pytest.mark.parametrize(
    ("step", "typed", "expected"),
    [
        ("message", "Hello\x00 all", "control characters"),
        ("buttons", "Go\x00 - https://a.example/", "this is not"),
    ],
)
async def test_a_broadcast_holding_a_nul_is_refused_before_it_is_queued(
    stack: Stack, problems: list[str], step: str, typed: str, expected: str
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    panel = await admin.send("/admin")
    await admin.press(panel.button("Broadcast"))
    if step == "buttons":
        await admin.send("Hello all")

    reply = await admin.send(typed)

    assert expected in reply.text
    assert problems == []
    assert await Broadcast.all().count() == 0


async def test_a_ban_reason_holding_a_nul_is_refused_politely(
    stack: Stack, factory: Factory, problems: list[str]
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    alice = await factory.affiliate(tg_id=21, name="Alice")
    await admin.press(AdminCallback(action=AdminAction.BAN, id=alice.id).pack())

    reply = await admin.send("spam\x00bots")

    assert reply.text == "A reason is plain text on one line."
    assert problems == []
    assert not (await Affiliate.get(id=alice.id)).is_banned


async def test_a_dialog_confirmed_on_a_message_out_of_reach_still_says_what_was_done(
    stack: Stack, problems: list[str]
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    kind = await admin.send("/offer_new")
    title = await press_on_old_message(admin, kind.button("This bot"))
    currency = await admin.send("Bot sign-ups")
    payout = await admin.press(currency.button("USD"))
    target = await admin.send("1.00")
    preview = await press_on_old_message(admin, target.button("Skip"))

    created = await press_on_old_message(admin, preview.button("Create the offer"))

    assert "Step 2 of 5" in title.text  # shown in the chat, though not under the button
    assert "Step 4 of 5" in payout.text and "Bot sign-ups" in preview.text
    assert created.text.startswith("✅ Offer #1 «Bot sign-ups» is live")
    assert problems == []


async def test_yes_on_a_question_out_of_reach_is_out_of_date_and_the_question_stays(
    stack: Stack, problems: list[str]
) -> None:
    race = await stack.services.races.create(race_draft())
    await stack.services.races.start_due()
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    asked = await admin.send(f"/race_cancel {race.id}")

    old = await press_on_old_message(admin, asked.button("Yes, cancel it"))
    fresh = await admin.press(asked.button("Yes, cancel it"))

    assert old.alert == "This button is out of date."
    assert "cancelled" in fresh.text.lower()  # the question was still open, Yes still works
    assert (await Race.get(id=race.id)).status is RaceStatus.CANCELLED
    assert problems == []
