from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0008_broadcast")]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name="RaceEntry",
            name="race_entry_score_idx",
            fields=None,
        ),
    ]
