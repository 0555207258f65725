from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0003_races_outbox")]

    initial = False

    operations = [
        ops.AddField(
            model_name="RaceEntry",
            name="prize_text",
            field=fields.CharField(default="", db_default="", max_length=512),
        ),
    ]
