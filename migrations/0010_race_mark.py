from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0009_race_entry_no_score_index")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RaceMark",
            fields=[
                (
                    "entry_id",
                    fields.BigIntField(
                        primary_key=True, unique=True, db_index=True, generated=False
                    ),
                ),
                ("race_id", fields.IntField(db_index=True)),
                ("affiliate_id", fields.IntField()),
                ("score", fields.BigIntField()),
                ("reached_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("best_rank", fields.IntField(null=True)),
            ],
            options={
                "table": "race_mark",
                "app": "models",
                "pk_attr": "entry_id",
                "table_description": "An entry whose score the Redis board has not seen yet, with what the board needs of it:",
            },
            bases=["Model"],
        ),
        # What the board had not seen yet stays marked: the next tick copies it.
        ops.RunSQL(
            "INSERT INTO race_mark "
            "(entry_id, race_id, affiliate_id, score, reached_at, best_rank) "
            "SELECT id, race_id, affiliate_id, score, reached_at, best_rank FROM race_entry "
            "WHERE dirty = TRUE",
            reverse_sql="UPDATE race_entry SET dirty = TRUE "
            "WHERE id IN (SELECT entry_id FROM race_mark)",
        ),
        ops.RemoveIndex(
            model_name="RaceEntry",
            name="race_entry_dirty_idx",
            fields=None,
        ),
        ops.RemoveField(model_name="RaceEntry", name="dirty"),
    ]
