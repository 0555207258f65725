"""The outbox: every message sent outside a reply waits here until the paced sender has
delivered it; its key makes each one happen once."""

from __future__ import annotations

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

    class Meta:
        table = "outbox"
        indexes = (Index(fields=("sent_at", "id"), name="outbox_pending_idx"),)
