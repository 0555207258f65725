from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_outbox_bulk")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Affiliate",
            name="muted",
            field=fields.CharField(default="", db_default="", max_length=64),
        ),
        # Whoever had turned all news off keeps every category off.
        ops.RunSQL(
            "UPDATE affiliate SET muted = 'ref,conv,race,news,admin' WHERE notify = FALSE",
            reverse_sql="UPDATE affiliate SET muted = ''",
        ),
    ]
