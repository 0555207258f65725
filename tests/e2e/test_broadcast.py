"""Broadcasts as an admin sends them: compose, pick the audience, see the preview exactly as
recipients will, send; the outbox delivers each copy once (blocked users and flood waits
met), the progress message says how it goes, and a restart part-way sends nobody twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiogram.exceptions import TelegramForbiddenError, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import EditMessageText, SendMessage, SendPhoto
from aiogram.types import MessageEntity, PhotoSize

from bot.services.broadcasts import Audience, Draft
from bot.telegram.sender import OutboxSender
from models import Affiliate, AuditEntry, Broadcast, BroadcastStatus, Outbox
from tests.factories import Factory
from tests.mocked_bot import MockedSession
from tests.stack import ADMIN_ID, Stack


async def people(stack: Stack, factory: Factory, ids: range, **fields: object) -> None:
    """Affiliates who started the bot (a broadcast reaches only those)."""
    for tg in ids:
        await factory.affiliate(tg_id=tg, started_at=datetime.now(UTC), **fields)


def sent_to(stack: Stack, chat_id: int) -> list[SendMessage | SendPhoto]:
    return [
        r
        for r in stack.session.requests
        if isinstance(r, (SendMessage, SendPhoto)) and r.chat_id == chat_id
    ]


async def test_compose_preview_and_send_reaches_each_person_once_with_a_final_report(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID, first_name="Ada")
    await admin.send("/start")
    await people(stack, factory, range(100, 105))
    await factory.affiliate(tg_id=200, started_at=datetime.now(UTC), muted="news")
    await factory.affiliate(tg_id=201, started_at=datetime.now(UTC), is_banned=True)
    await factory.affiliate(tg_id=202, started_at=datetime.now(UTC), blocked_at=datetime.now(UTC))
    await factory.affiliate(tg_id=203)  # never started the bot
    panel = await admin.send("/admin")

    asked = await admin.press(panel.button("Broadcast"))
    bold = MessageEntity(type="bold", offset=0, length=3)
    typed = await admin.send_content(text="New offer is live!", entities=[bold])
    buttons = await admin.send("Open it - https://shop.example/new\nRules - https://x.example/r")
    preview = await admin.press(buttons.button("Everyone"))
    sent = await admin.press(preview.button("Send it"))
    twice = await admin.press(preview.button("Send it"))
    await stack.deliver()
    stack.session.requests.clear()
    await stack.services.reporter.report()

    assert "Send the message to broadcast" in asked.text
    assert "URL buttons" in typed.text and "No buttons" in " ".join(typed.buttons)
    look = next(r for r in preview.requests if isinstance(r, SendMessage))
    assert look.text == "<b>New</b> offer is live!" and look.chat_id == ADMIN_ID
    assert [b.url for row in look.reply_markup.inline_keyboard for b in row] == [  # type: ignore[union-attr]
        "https://shop.example/new",
        "https://x.example/r",
    ]
    assert "It goes to 6 people (everyone)" in preview.text  # five, and the admin
    assert sent.text.startswith("📣 <b>Broadcast #1 sending</b>")  # the progress, live
    assert "left 6 of 6" in sent.text and "Pause" in " ".join(sent.buttons)
    assert twice.alert == "This button is out of date."
    broadcast = await Broadcast.get()
    assert broadcast.status is BroadcastStatus.DONE and broadcast.total == 6
    edits = [r for r in stack.session.requests if isinstance(r, EditMessageText)]
    assert edits and edits[-1].text.startswith(f"✅ <b>Broadcast #{broadcast.id} done</b>")
    assert "Sent 6 · blocked 0 · failed 0 · left 0 of 6" in edits[-1].text
    for excluded in (200, 201, 202, 203):
        assert await Outbox.filter(broadcast_id=broadcast.id, chat_id=excluded).count() == 0
    assert await Outbox.filter(broadcast_id=broadcast.id).count() == 6
    assert await AuditEntry.filter(action="broadcast.send").count() == 1


async def test_a_photo_to_one_language_with_blocked_users_and_a_flood_wait(
    stack: Stack, factory: Factory
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    await admin.send("/start")
    await people(stack, factory, range(100, 103), language="ru")
    await people(stack, factory, range(110, 112), tg_language="ru")  # Telegram says Russian
    await people(stack, factory, range(120, 122), tg_language="de")  # reads English
    panel = await admin.send("/admin")
    await admin.press(panel.button("Broadcast"))
    photo = [PhotoSize(file_id="PHOTO-1", file_unique_id="u", width=10, height=10)]
    await admin.send_content(photo=photo, caption="Гонка начинается!")
    chosen = await admin.press(
        (await admin.send("Участвовать - https://t.me/x")).button("Русский")
    )
    await admin.press(chosen.button("Send it"))
    stack.session.requests.clear()  # the admin's preview is not a delivery
    stack.session.queue(TelegramRetryAfter(method=None, message="flood", retry_after=1))  # type: ignore[arg-type]
    stack.session.queue(True)  # the retried first copy goes through
    stack.session.queue(TelegramForbiddenError(method=None, message="blocked"))  # type: ignore[arg-type]

    await stack.deliver(10)

    broadcast = await Broadcast.get()
    progress = await stack.services.broadcasts.progress(broadcast)
    photos = [r for r in stack.session.requests if isinstance(r, SendPhoto)]
    assert broadcast.total == 5
    assert {p.chat_id for p in photos} == {100, 101, 102, 110, 111}
    assert all(p.photo == "PHOTO-1" and p.caption == "Гонка начинается!" for p in photos)
    assert (progress.sent, progress.blocked, progress.failed, progress.left) == (4, 1, 0, 0)
    blocked = await Affiliate.get(tg_id=101)
    assert blocked.blocked_at is not None
    assert stack.services.metrics.sends.labels("flood_wait")._value.get() == 1


async def test_pause_holds_what_waits_resume_sends_it_and_cancel_stops_the_rest(
    stack: Stack, factory: Factory
) -> None:
    await people(stack, factory, range(100, 110))
    service = stack.services.broadcasts
    broadcast = await service.start(ADMIN_ID, Draft("Hi", None, [], Audience.ALL))

    await service.set_paused(broadcast.id, True)
    during_pause = await stack.deliver(2)
    await service.set_paused(broadcast.id, False)
    rows = await Outbox.filter(broadcast_id=broadcast.id).order_by("id")
    await Outbox.filter(id__in=[r.id for r in rows[:3]]).update(sent_at=datetime.now(UTC))
    cancelled = await service.cancel(broadcast.id)
    after_cancel = await stack.deliver(2)
    progress = await service.progress(cancelled)

    assert during_pause == 0
    assert after_cancel == 0
    assert cancelled.status is BroadcastStatus.CANCELLED
    assert (progress.sent, progress.cancelled, progress.left) == (3, 7, 0)


async def test_a_restart_part_way_sends_nobody_a_second_copy(
    stack: Stack, factory: Factory
) -> None:
    await people(stack, factory, range(100, 110))
    broadcast = await stack.services.broadcasts.start(
        ADMIN_ID, Draft("Big news", None, [], Audience.ALL, "")
    )
    first_run = stack.session
    for _ in range(4):
        first_run.queue(True)
    for _ in range(30):  # then the process "dies": nothing more goes through
        first_run.queue(TelegramNetworkError(method=None, message="killed"))  # type: ignore[arg-type]
    await stack.deliver(1)
    before = {r.chat_id for r in first_run.requests if isinstance(r, SendMessage)}

    second_run = MockedSession()  # a new process: its own bot and sender, the same database
    bot = stack.bot.__class__(stack.bot.token, session=second_run)
    await stack.services.broadcasts.enqueue(
        broadcast, [a.tg_id for a in await Affiliate.all()]
    )  # the new process queues again what it finds: keys make it a no-op
    restarted = OutboxSender(bot, stack.services.outbox, stack.services.affiliates)
    await Outbox.filter(broadcast_id=broadcast.id, sent_at__isnull=True).update(attempts=0)
    await restarted.drain(10)
    after = [r.chat_id for r in second_run.requests if isinstance(r, SendMessage)]

    delivered = [r.chat_id for r in first_run.requests if isinstance(r, SendMessage)][:4]
    assert len(delivered) == 4
    assert not set(delivered) & set(after)  # nobody twice
    assert sorted(set(delivered) | set(after)) == list(range(100, 110))
    assert len(after) == len(set(after))
    assert await Outbox.filter(broadcast_id=broadcast.id).count() == 10
    assert before  # the first run did reach people before it died


async def test_active_audience_counts_only_who_used_the_bot_lately(
    stack: Stack, factory: Factory
) -> None:
    await people(stack, factory, range(100, 103))
    await Affiliate.filter(tg_id=100).update(seen_at=datetime.now(UTC) - timedelta(days=10))

    week = await stack.services.broadcasts.count(Audience.ACTIVE, "7")
    month = await stack.services.broadcasts.count(Audience.ACTIVE, "30")

    assert (week, month) == (2, 3)
