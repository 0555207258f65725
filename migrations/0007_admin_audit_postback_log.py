from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from models.payouts import PayoutStatus


class Migration(migrations.Migration):
    dependencies = [("models", "0006_affiliate_muted")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("actor_tg_id", fields.BigIntField()),
                ("actor", fields.CharField(max_length=160)),
                ("action", fields.CharField(max_length=48)),
                ("target", fields.CharField(default="", db_default="", max_length=64)),
                ("before", fields.TextField(null=True, unique=False)),
                ("after", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "audit_log",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One admin action: who, what, on what, the state before and after (JSON). Append-only.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PostbackLog",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("offer_id", fields.IntField(null=True)),
                ("result", fields.CharField(max_length=16)),
                ("http_status", fields.SmallIntField()),
                ("reason", fields.CharField(default="", db_default="", max_length=256)),
                ("params", fields.TextField(unique=False)),
                ("ip", fields.CharField(default="", db_default="", max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "postback_log",
                "app": "models",
                "indexes": [Index(fields=["offer_id", "id"], name="postback_log_offer_idx")],
                "pk_attr": "id",
                "table_description": "A postback as it came and what it got, rejected ones included, secrets masked. Capped",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Affiliate",
            name="ban_reason",
            field=fields.CharField(default="", db_default="", max_length=256),
        ),
        ops.AddField(
            model_name="Affiliate",
            name="is_admin",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AlterField(
            model_name="PayoutRequest",
            name="status",
            field=fields.CharEnumField(
                description="OPEN: open\nAPPROVED: approved\nREJECTED: rejected\nPAID: paid",
                enum_type=PayoutStatus,
                max_length=16,
            ),
        ),
        ops.AddField(
            model_name="PayoutRequest",
            name="paid_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="PayoutRequest",
            name="reference",
            field=fields.CharField(default="", db_default="", max_length=128),
        ),
    ]
