import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.outbox import BroadcastStatus


class Migration(migrations.Migration):
    dependencies = [("models", "0007_admin_audit_postback_log")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Broadcast",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("author_tg_id", fields.BigIntField()),
                ("text", fields.TextField(unique=False)),
                ("photo", fields.CharField(null=True, max_length=256)),
                (
                    "buttons",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("audience", fields.CharField(max_length=16)),
                ("audience_arg", fields.CharField(default="", db_default="", max_length=32)),
                (
                    "status",
                    fields.CharEnumField(
                        description="SENDING: sending\nPAUSED: paused\nCANCELLED: cancelled\nDONE: done",
                        enum_type=BroadcastStatus,
                        max_length=16,
                    ),
                ),
                ("total", fields.IntField(default=0, db_default=0)),
                ("progress_chat_id", fields.BigIntField(null=True)),
                ("progress_message_id", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "broadcast",
                "app": "models",
                "pk_attr": "id",
                "table_description": "An admin's message to many: what, to whom, and where its live progress is shown. The",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Affiliate",
            name="seen_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Outbox",
            name="broadcast_id",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="Outbox",
            name="buttons",
            field=fields.JSONField(
                null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
            ),
        ),
        ops.AddField(
            model_name="Outbox",
            name="held",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name="Outbox",
            name="photo",
            field=fields.CharField(null=True, max_length=256),
        ),
        ops.AddIndex(
            model_name="Outbox",
            index=Index(fields=["broadcast_id", "sent_at"], name="outbox_broadcast_idx"),
        ),
        ops.AddIndex(
            model_name="Outbox",
            index=Index(fields=["bulk", "sent_at", "id"], name="outbox_notices_idx"),
        ),
    ]
