"""What admins did, and what advertisers' servers sent: logs that nothing in the bot edits."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class AuditEntry(Model):
    """One admin action: who, what, on what, the state before and after (JSON). Append-only."""

    id = fields.BigIntField(primary_key=True)
    actor_tg_id = fields.BigIntField()
    actor = fields.CharField(max_length=160)  # the admin as named at the time
    action = fields.CharField(max_length=48)  # e.g. "payout.approve"
    target = fields.CharField(max_length=64, default="", db_default="")  # e.g. "payout #12"
    before = fields.TextField(null=True)
    after = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_log"


class PostbackLog(Model):
    """A postback as it came and what it got, rejected ones included, secrets masked. Capped
    per offer by a sweep (POSTBACK_LOG_PER_OFFER)."""

    id = fields.BigIntField(primary_key=True)
    offer_id = fields.IntField(null=True)  # as sent, not a foreign key: unknown offers too
    result = fields.CharField(max_length=16)  # stored, duplicate or rejected
    http_status = fields.SmallIntField()
    reason = fields.CharField(max_length=256, default="", db_default="")
    params = fields.TextField()  # JSON, the signature and token masked
    ip = fields.CharField(max_length=64, default="", db_default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "postback_log"
        indexes = (Index(fields=("offer_id", "id"), name="postback_log_offer_idx"),)
