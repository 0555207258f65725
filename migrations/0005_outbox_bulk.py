from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0004_race_entry_prize_text")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Outbox",
            name="bulk",
            field=fields.BooleanField(default=True, db_default=True),
        ),
    ]
