"""The audit log: every admin action, who did it and when, with the state before and after.
Rows are only ever added; nothing in the bot edits or removes one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models import Affiliate, AuditEntry

PAGE_SIZE = 10


@dataclass(frozen=True, slots=True)
class Actor:
    """The admin acting, as the log names them."""

    tg_id: int
    name: str

    @classmethod
    def of(cls, admin: Affiliate) -> Actor:
        handle = f" @{admin.username}" if admin.username else ""
        return cls(admin.tg_id, f"{admin.display_name}{handle}")


@dataclass(frozen=True, slots=True)
class AuditLine:
    id: int
    at: datetime
    actor_tg_id: int
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


OFFER_FIELDS = (
    "title",
    "kind",
    "target_url",
    "payout_minor",
    "currency",
    "is_active",
    "revshare_bp",
    "second_level_bp",
    "hold_days",
    "ip_allowlist",
    "channel_id",
    "event_payouts",
    "status_map",
)


def offer_state(offer: object) -> dict[str, Any]:
    """What an admin can change of an offer (its secrets never), for before/after."""
    return {name: getattr(offer, name) for name in OFFER_FIELDS}


def _dump(state: Mapping[str, Any] | None) -> str | None:
    return None if state is None else json.dumps(state, ensure_ascii=False, default=str)


def _load(raw: str | None) -> dict[str, Any] | None:
    return None if raw is None else dict(json.loads(raw))


class AuditLog:
    async def record(
        self,
        actor: Actor,
        action: str,
        target: str = "",
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> None:
        await AuditEntry.create(
            actor_tg_id=actor.tg_id,
            actor=actor.name[:160],
            action=action[:48],
            target=target[:64],
            before=_dump(before),
            after=_dump(after),
        )

    async def page(self, page: int, size: int = PAGE_SIZE) -> tuple[list[AuditLine], bool]:
        """The newest first; and whether an older page exists."""
        rows = await AuditEntry.all().order_by("-id").offset(page * size).limit(size + 1)
        lines = [
            AuditLine(
                r.id,
                r.created_at,
                r.actor_tg_id,
                r.actor,
                r.action,
                r.target,
                _load(r.before),
                _load(r.after),
            )
            for r in rows[:size]
        ]
        return lines, len(rows) > size
