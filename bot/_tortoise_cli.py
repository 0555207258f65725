"""TORTOISE_ORM for the `tortoise` CLI (makemigrations, sqlmigrate): reads DATABASE_URL."""

import os

from bot.db import MIGRATION_TIMEOUTS, tortoise_config

TORTOISE_ORM = tortoise_config(
    os.environ.get("DATABASE_URL", "sqlite://data/affrace.sqlite3"), timeouts=MIGRATION_TIMEOUTS
)
