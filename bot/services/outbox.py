"""The outbox: bulk messages wait in the database until the paced sender delivers them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from models import Outbox

MAX_ATTEMPTS = 8  # with the sender's doubling backoff: about four minutes of failures
BLOCKED = "blocked by the user"  # why a row was closed: the person blocked the bot


@dataclass(frozen=True, slots=True)
class Letter:
    key: str  # unique: the same news is never queued twice
    chat_id: int
    text: str
    bulk: bool = True  # False for a notice to one person: never a paid broadcast
    photo: str | None = None  # a Telegram file id: `text` is its caption
    buttons: list[list[str]] | None = None  # URL buttons, rows of [text, url]
    broadcast_id: int | None = None


class OutboxService:
    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))

    async def enqueue(self, letters: Sequence[Letter]) -> int:
        """Queue letters; ones whose key is already queued are skipped. Returns how many."""
        if not letters:
            return 0
        keys = [letter.key for letter in letters]
        known = set(await Outbox.filter(key__in=keys).values_list("key", flat=True))
        fresh = {letter.key: letter for letter in letters if letter.key not in known}.values()
        now = self.clock()
        await Outbox.bulk_create(
            [
                Outbox(
                    key=x.key,
                    chat_id=x.chat_id,
                    text=x.text,
                    bulk=x.bulk,
                    photo=x.photo,
                    buttons=x.buttons,
                    broadcast_id=x.broadcast_id,
                    created_at=now,
                )
                for x in fresh
            ],
            ignore_conflicts=True,
        )
        return len(fresh)

    async def pending(self, limit: int = 100) -> list[Outbox]:
        """What to send next: notices to one person first (a broadcast's thousands never
        keep someone's payout news waiting), then bulk; a paused broadcast's rows wait."""
        notices = (
            await Outbox.filter(bulk=False, sent_at__isnull=True, held=False)
            .order_by("id")
            .limit(limit)
        )
        if len(notices) >= limit:
            return notices
        bulk = (
            await Outbox.filter(bulk=True, sent_at__isnull=True, held=False)
            .order_by("id")
            .limit(limit - len(notices))
        )
        return [*notices, *bulk]

    async def done(self, row: Outbox, error: str | None = None) -> None:
        await Outbox.filter(id=row.id).update(
            sent_at=self.clock(), error=error[:256] if error else None, attempts=row.attempts + 1
        )

    async def done_many(self, rows: Sequence[Outbox]) -> None:
        """Record rows Telegram accepted, all at once: one UPDATE per count of earlier
        attempts (nearly always one), rather than one per row."""
        ids: defaultdict[int, list[int]] = defaultdict(list)
        for row in rows:
            ids[row.attempts].append(row.id)
        now = self.clock()
        for attempts, chunk in ids.items():
            await Outbox.filter(id__in=chunk).update(
                sent_at=now, error=None, attempts=attempts + 1
            )

    async def retry_later(self, row: Outbox, error: str) -> None:
        """A passing failure: try again later, until MAX_ATTEMPTS, then give up on it."""
        if row.attempts + 1 >= MAX_ATTEMPTS:
            await self.done(row, f"gave up: {error}")
            return
        await Outbox.filter(id=row.id).update(attempts=row.attempts + 1, error=error[:256])

    async def waiting(self) -> int:
        return await Outbox.filter(sent_at__isnull=True).count()
