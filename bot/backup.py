"""`python -m bot backup PATH`: a consistent copy of the SQLite database while the bot runs,
by SQLite's online backup API. The copy is one step inside one read transaction: the
database is in WAL mode (tortoise's default), so the bot's writers go on meanwhile and the
copy is the state of one moment (stepping page by page would restart at every write of the
running bot and might never end). PostgreSQL has pg_dump for this (README, Backups)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

ALL_PAGES = -1  # one step: a snapshot (see above)


class BackupError(Exception):
    """Why no copy could be made, in a sentence."""


def sqlite_file(database_url: str) -> Path:
    if not database_url.startswith("sqlite://") or database_url == "sqlite://:memory:":
        raise BackupError(
            "backup copies a SQLite database; for PostgreSQL use pg_dump (README, Backups)"
        )
    path = Path(database_url.removeprefix("sqlite://")).expanduser()
    if not path.is_file():
        raise BackupError(f"there is no database file at {path}")
    return path


def backup(database_url: str, target: Path) -> int:
    """Copy the database to `target` (a new file); returns its size in bytes."""
    source_path = sqlite_file(database_url)
    if target.exists():
        raise BackupError(f"{target} exists already: give a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy, pages=ALL_PAGES)
            check = copy.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy failed its integrity check: {check}")
        finally:
            copy.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed: {exc}") from None
    finally:
        source.close()
    partial.rename(target)  # a finished copy only ever appears whole
    return target.stat().st_size


def stamped(folder: Path) -> Path:
    """A file name for a backup made now, in `folder`."""
    return folder / time.strftime("affrace-%Y%m%d-%H%M%S.sqlite3", time.gmtime())
