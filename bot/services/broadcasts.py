"""Broadcasts: an admin's message to many, through the outbox and its pacer. Each recipient's
copy is an outbox row keyed bc:ID:CHAT, so a restart part-way (or a second enqueue) sends
nobody a second copy; pausing holds the rows that wait, cancelling closes them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tortoise.expressions import Q

from bot.errors import N_, Conflict, InvalidInput, NotFound
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES
from bot.services.inputs import has_control
from bot.services.outbox import BLOCKED, Letter, OutboxService
from models import Affiliate, Broadcast, BroadcastStatus, Category, Outbox, Race, RaceEntry

CANCELLED = "cancelled by an admin"
CHUNK = 1000
BUTTONS_MAX = 6
BUTTON_TEXT_MAX = 64
URL_MAX = 512
TEXT_MAX = 4096
CAPTION_MAX = 1024
BUTTON_RE = re.compile(r"(?P<text>.+?)\s+[-–—]\s+(?P<url>https?://\S+)")  # whole line


class Audience(StrEnum):
    ALL = "all"
    ACTIVE = "active"  # arg: days
    RACE = "race"  # arg: race id
    LANGUAGE = "language"  # arg: en or ru


@dataclass(frozen=True, slots=True)
class Draft:
    text: str  # HTML as Telegram's entities made it
    photo: str | None
    buttons: list[list[str]]
    audience: Audience
    audience_arg: str = ""


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    sent: int
    blocked: int
    failed: int
    cancelled: int
    left: int

    @property
    def done(self) -> int:
        return self.sent + self.blocked + self.failed


def parse_buttons(raw: str) -> list[list[str]]:
    """URL buttons, one a line as "Text - https://…"; refused with the line that is wrong."""
    buttons = []
    for line in (x.strip() for x in raw.splitlines()):
        if not line:
            continue
        match = BUTTON_RE.fullmatch(line)
        # A control character (NUL above all, which PostgreSQL refuses) is no button's text.
        if match is None or len(match["url"]) > URL_MAX or has_control(line.replace("\t", " ")):
            raise InvalidInput(
                N_("A button is “Text - https://address”, one a line; this is not: {line}"),
                line=line[:80],
            )
        text = match["text"].strip()
        if len(text) > BUTTON_TEXT_MAX:
            raise InvalidInput(N_("A button's text is at most {size} characters."), size=64)
        buttons.append([text, match["url"]])
    if len(buttons) > BUTTONS_MAX:
        raise InvalidInput(N_("At most {count} buttons."), count=BUTTONS_MAX)
    return buttons


def check_message(text: str, photo: str | None) -> None:
    limit = CAPTION_MAX if photo else TEXT_MAX
    if len(text) > limit:
        raise InvalidInput(N_("Too long for Telegram: at most {size} characters."), size=limit)
    if not text and not photo:
        raise InvalidInput(N_("Send a text, or a photo with or without a caption."))
    if has_control(text.replace("\t", " "), allow_newlines=True):  # PostgreSQL takes no NUL
        raise InvalidInput(
            N_("The message holds control characters Telegram would not show: remove them.")
        )


class BroadcastService:
    def __init__(
        self, outbox: OutboxService, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.outbox = outbox
        self.clock = clock

    def _who(self, audience: Audience, arg: str) -> Q:
        """Whom a broadcast reaches: started the bot, not blocked it, not banned, announcements
        not turned off; and the audience's own condition."""
        base = Q(started_at__isnull=False, blocked_at__isnull=True, is_banned=False) & ~Q(
            muted__contains=Category.ANNOUNCEMENTS.value
        )
        if audience is Audience.ACTIVE:
            return base & Q(seen_at__gte=self.clock() - timedelta(days=int(arg)))
        if audience is Audience.LANGUAGE:
            return base & self._speaks(arg)
        return base

    @staticmethod
    def _speaks(language: str) -> Q:
        """As the bot picks a language: the chosen one, else Telegram's if we speak it, else
        the default."""
        chosen = Q(language=language)
        others = [x for x in LANGUAGES if x != language]
        if language == DEFAULT_LANGUAGE:
            by_telegram = Q(language__isnull=True)
            for other in others:
                by_telegram &= ~Q(tg_language__istartswith=other)
            return chosen | by_telegram
        return chosen | Q(language__isnull=True, tg_language__istartswith=language)

    async def recipients(self, audience: Audience, arg: str) -> list[int]:
        query = Affiliate.filter(self._who(audience, arg))
        if audience is Audience.RACE:
            race = await Race.get_or_none(id=int(arg))
            if race is None:
                raise NotFound(N_("There is no race #{id}."), id=arg)
            query = query.filter(
                id__in=RaceEntry.filter(race_id=race.id).values_list("affiliate_id", flat=True)
            )
        return [int(r["tg_id"]) for r in await query.order_by("id").values("tg_id")]

    async def count(self, audience: Audience, arg: str) -> int:
        return len(await self.recipients(audience, arg))

    async def start(self, author_tg_id: int, draft: Draft) -> Broadcast:
        """Store the broadcast and queue one copy per recipient (in chunks)."""
        check_message(draft.text, draft.photo)
        chats = await self.recipients(draft.audience, draft.audience_arg)
        if not chats:
            raise Conflict(N_("Nobody is in that audience: nothing was sent."))
        broadcast = await Broadcast.create(
            author_tg_id=author_tg_id,
            text=draft.text,
            photo=draft.photo,
            buttons=draft.buttons or None,
            audience=draft.audience.value,
            audience_arg=draft.audience_arg,
            status=BroadcastStatus.SENDING,
            total=len(chats),
        )
        await self.enqueue(broadcast, chats)
        return broadcast

    async def enqueue(self, broadcast: Broadcast, chats: list[int]) -> None:
        for i in range(0, len(chats), CHUNK):
            await self.outbox.enqueue(
                [
                    Letter(
                        key=f"bc:{broadcast.id}:{chat}",
                        chat_id=chat,
                        text=broadcast.text,
                        photo=broadcast.photo,
                        buttons=broadcast.buttons,
                        broadcast_id=broadcast.id,
                    )
                    for chat in chats[i : i + CHUNK]
                ]
            )

    async def get(self, broadcast_id: int) -> Broadcast:
        found = await Broadcast.get_or_none(id=broadcast_id)
        if found is None:
            raise NotFound(N_("There is no broadcast #{id}."), id=broadcast_id)
        return found

    async def progress(self, broadcast: Broadcast) -> Progress:
        rows = Outbox.filter(broadcast_id=broadcast.id)
        left = await rows.filter(sent_at__isnull=True).count()
        done = rows.filter(sent_at__isnull=False)
        sent = await done.filter(error__isnull=True).count()
        blocked = await done.filter(error=BLOCKED).count()
        cancelled = await done.filter(error=CANCELLED).count()
        failed = await done.filter(error__isnull=False).count() - blocked - cancelled
        return Progress(broadcast.total, sent, blocked, failed, cancelled, left)

    async def set_paused(self, broadcast_id: int, paused: bool) -> Broadcast:
        broadcast = await self.get(broadcast_id)
        wanted = BroadcastStatus.SENDING if paused else BroadcastStatus.PAUSED
        if broadcast.status is not wanted:
            raise Conflict(
                N_("Broadcast #{id} is {status}."), id=broadcast_id, status=broadcast.status.value
            )
        await Outbox.filter(broadcast_id=broadcast.id, sent_at__isnull=True).update(held=paused)
        broadcast.status = BroadcastStatus.PAUSED if paused else BroadcastStatus.SENDING
        await broadcast.save(update_fields=["status"])
        return broadcast

    async def cancel(self, broadcast_id: int) -> Broadcast:
        """What has not gone out yet never will; what has, stays sent."""
        broadcast = await self.get(broadcast_id)
        if broadcast.status not in (BroadcastStatus.SENDING, BroadcastStatus.PAUSED):
            raise Conflict(
                N_("Broadcast #{id} is {status}."), id=broadcast_id, status=broadcast.status.value
            )
        await Outbox.filter(broadcast_id=broadcast.id, sent_at__isnull=True).update(
            sent_at=self.clock(), error=CANCELLED
        )
        broadcast.status, broadcast.finished_at = BroadcastStatus.CANCELLED, self.clock()
        await broadcast.save(update_fields=["status", "finished_at"])
        return broadcast

    async def unfinished(self) -> list[Broadcast]:
        return await Broadcast.filter(
            status__in=[BroadcastStatus.SENDING, BroadcastStatus.PAUSED]
        ).order_by("id")

    async def finish(self, broadcast: Broadcast) -> bool:
        """Mark a sending broadcast done once nothing of it waits; True when it did."""
        moved = await Broadcast.filter(id=broadcast.id, status=BroadcastStatus.SENDING).update(
            status=BroadcastStatus.DONE, finished_at=self.clock()
        )
        if moved:
            broadcast.status, broadcast.finished_at = BroadcastStatus.DONE, self.clock()
        return bool(moved)

    async def set_progress_message(
        self, broadcast: Broadcast, chat_id: int, message_id: int
    ) -> None:
        broadcast.progress_chat_id, broadcast.progress_message_id = chat_id, message_id
        await broadcast.save(update_fields=["progress_chat_id", "progress_message_id"])
