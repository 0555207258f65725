"""The outbox: every message sent outside a reply waits here until the paced sender has
delivered it; its key makes each one happen once."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Outbox(Model):
    """A message waiting to be sent in bulk, paced under Telegram's limits. `key` dedups."""

    id = fields.BigIntField(primary_key=True)
    chat_id = fields.BigIntField()
    text = fields.TextField()
    key = fields.CharField(max_length=128, unique=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0, db_default=0)
    error = fields.CharField(max_length=256, null=True)
    # Bulk (race news, results, broadcasts) may go as paid broadcasts; a notice to one person
    # (a referral, a conversion, a payout decision) never does.
    bulk = fields.BooleanField(default=True, db_default=True)
    # A broadcast's message: its photo (a Telegram file id, `text` is then the caption), URL
    # buttons (JSON rows of [text, url]), and `held` while an admin has paused it.
    photo = fields.CharField(max_length=256, null=True)
    buttons: fields.Field[list[list[str]] | None] = fields.JSONField(null=True)
    broadcast_id = fields.IntField(null=True)
    held = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "outbox"
        indexes = (
            Index(fields=("sent_at", "id"), name="outbox_pending_idx"),
            Index(fields=("broadcast_id", "sent_at"), name="outbox_broadcast_idx"),
            # notices to one person go before a broadcast's thousands
            Index(fields=("bulk", "sent_at", "id"), name="outbox_notices_idx"),
        )


class BroadcastStatus(StrEnum):
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class Broadcast(Model):
    """An admin's message to many: what, to whom, and where its live progress is shown. The
    messages themselves are outbox rows (keyed bc:ID:CHAT, so each person gets one)."""

    id = fields.IntField(primary_key=True)
    author_tg_id = fields.BigIntField()
    text = fields.TextField()
    photo = fields.CharField(max_length=256, null=True)
    buttons: fields.Field[list[list[str]] | None] = fields.JSONField(null=True)
    audience = fields.CharField(max_length=16)  # all, active, race or language
    audience_arg = fields.CharField(max_length=32, default="", db_default="")
    status = fields.CharEnumField(BroadcastStatus, max_length=16)
    total = fields.IntField(default=0, db_default=0)
    progress_chat_id = fields.BigIntField(null=True)
    progress_message_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "broadcast"
