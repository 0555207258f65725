"""`python -m bot run | migrate | backup`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot import _aiogram_types

_aiogram_types.load()  # before anything imports aiogram: its types are built when first used

from pydantic import ValidationError  # noqa: E402

from bot import db  # noqa: E402
from bot.backup import BackupError, backup, stamped  # noqa: E402
from bot.config import DatabaseSettings, Settings, explain  # noqa: E402
from bot.logging import setup_logging  # noqa: E402
from bot.process import StartupError, run  # noqa: E402


def _backup(path: Path) -> int:
    try:
        settings = DatabaseSettings()
        target = stamped(path) if path.is_dir() else path
        size = backup(settings.DATABASE_URL, target)
    except ValidationError as exc:
        for line in explain(exc):
            print(f"affrace: {line}", file=sys.stderr)
        return 2
    except BackupError as exc:
        print(f"affrace: {exc}", file=sys.stderr)
        return 1
    print(f"backup written: {target} ({size} bytes)")
    return 0


def _run_settings(role: str | None) -> Settings:
    if role is None:
        return Settings()
    return Settings(ROLE=role)  # parsed like the variable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Affrace bot")
    commands = parser.add_subparsers(dest="command", required=True)
    running = commands.add_parser(
        "run", help="migrate, then run the bot, web server and scheduler (or --role's part)"
    )
    running.add_argument(
        "--role",
        help="all (the default), or bot, web, scheduler, or several separated by commas; "
        "overrides ROLE",
    )
    commands.add_parser("migrate", help="apply database migrations and exit")
    saving = commands.add_parser(
        "backup", help="a consistent copy of the SQLite database, while the bot runs"
    )
    saving.add_argument("path", type=Path, help="the new file, or a folder for a dated file")
    args = parser.parse_args(argv)
    if args.command == "backup":
        return _backup(args.path)

    try:
        settings: DatabaseSettings = (
            _run_settings(args.role) if args.command == "run" else DatabaseSettings()
        )
    except ValidationError as exc:
        for line in explain(exc):
            print(f"affrace: {line}", file=sys.stderr)
        return 2
    if isinstance(settings, Settings):
        setup_logging(settings.LOG_LEVEL, settings.LOG_JSON)
    else:
        setup_logging()
    try:
        if isinstance(settings, Settings):
            asyncio.run(run(settings))
        else:
            asyncio.run(db.migrate(settings.DATABASE_URL))
    except StartupError as exc:
        print(f"affrace: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
