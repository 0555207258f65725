"""The chat under attack: odd numbers, forged buttons and senders that are not people get a
polite answer or are ignored, never "something went wrong", and nothing worse than a warning
reaches the log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiogram.types import Chat, Message, Update, User
from loguru import logger

from models import Affiliate, LedgerEntry
from tests.stack import ADMIN_ID, Stack

SORRY = "Sorry, something went wrong"


@pytest.fixture
def problems() -> Iterator[list[str]]:
    """What the app logged at ERROR or above during the test."""
    records: list[str] = []
    sink = logger.add(lambda m: records.append(str(m)), level="ERROR", format="{message}")
    yield records
    logger.remove(sink)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/adjust 99999999999999999999 5.00 USD fix", "Usage: /adjust"),
        ("/adjust ١٢٣ 5.00 USD fix", "Usage: /adjust"),
        (f"/adjust {ADMIN_ID} 5.00\x00 USD fix", "is not an amount"),
        (f"/adjust {ADMIN_ID} 5.00 USD a\x00b", "A note is plain text"),
        ("/rate 99999999999999999999 1 payout 5", "Usage: /rate"),
        ("/rate 5 99999999999999999999 payout 5", "Usage: /rate"),
        ("/race_cancel ²", "Give the race's number"),
        ("/race_end 99999999999", "Give the race's number"),
        ("/offer_on ١", "Give the offer's number"),
        ("/offer_edit 1 hold ٣", "There is no offer #1."),
        ("/timezone " + "Europe/" + "a" * 300, "is not a time zone I know"),
        ("/timezone Europe/Moscow\x00", "is not a time zone I know"),
    ],
)
async def test_admin_command_with_odd_numbers_gets_a_polite_answer(
    stack: Stack, problems: list[str], command: str, expected: str
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")

    reply = await admin.send(command)

    assert expected in reply.text
    assert SORRY not in reply.text
    assert problems == []
    assert await LedgerEntry.all().count() == 0


@pytest.mark.parametrize(
    "data",
    [
        "l:sdo:0:" + "a" * 40,
        "l:sdo:0:youtube\n",
        "l:s:99999999999999999999:",
        "l:s:²:",
        "r:s:99999999999999999999:0",
        "r:b:1:99999999999",
        "r:s:-1:0",
        "b:h:99999999999999:",
        "b:p:0:usd",
        "b:p:0:" + "U" * 40,
        "sx:" + "x" * 50 + ":0",
        "st:sl:" + "r" * 40,
        "rf:p:" + "9" * 60,
        "m:nope",
        "zz:what",
        "",
    ],
)
async def test_forged_or_stale_button_is_told_it_is_out_of_date(
    stack: Stack, problems: list[str], data: str
) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")

    reply = await alice.press(data)

    assert reply.alert is not None
    assert "out of date" in reply.alert or "not valid" in reply.alert
    assert problems == []


def message_from(user: User | None, chat: Chat, text: str = "/start") -> Update:
    message = Message(
        message_id=1,
        date=datetime.now(UTC),
        chat=chat,
        from_user=user,
        sender_chat=Chat(id=-1001, type="supergroup", title="G") if user is None else None,
        text=text,
    )
    return Update(update_id=77, message=message)


@pytest.mark.parametrize(
    "update",
    [
        message_from(User(id=5, is_bot=True, first_name="OtherBot"), Chat(id=5, type="private")),
        message_from(
            User(id=1087968824, is_bot=True, first_name="Group"),  # an anonymous group admin
            Chat(id=-1001, type="supergroup", title="G"),
        ),
        message_from(None, Chat(id=-1001, type="supergroup", title="G")),
    ],
    ids=["another-bot", "anonymous-admin", "no-sender"],
)
async def test_a_message_not_sent_by_a_person_is_ignored_quietly(
    stack: Stack, problems: list[str], update: Update
) -> None:
    reply = await stack.tg.feed(update)

    assert reply.requests == []
    assert problems == []
    assert await Affiliate.all().count() == 0


async def test_a_channel_post_is_ignored_quietly(stack: Stack, problems: list[str]) -> None:
    post = Message(
        message_id=2,
        date=datetime.now(UTC),
        chat=Chat(id=-1002, type="channel", title="C"),
        sender_chat=Chat(id=-1002, type="channel", title="C"),
        text="/start",
    )

    reply = await stack.tg.feed(Update(update_id=78, channel_post=post))

    assert reply.requests == []
    assert problems == []
