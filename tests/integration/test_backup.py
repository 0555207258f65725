"""`python -m bot backup`: a consistent copy of the SQLite database taken while writes go on,
refused with a clear word for PostgreSQL or an existing file."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.backup import BackupError, backup

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_db(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "live.sqlite3"
    shutil.copy(sqlite_template, path)
    return path


def test_a_backup_taken_under_writes_is_one_moments_consistent_state(
    live_db: Path, tmp_path: Path
) -> None:
    stop = threading.Event()
    written = 0

    def writer() -> None:
        """Each transaction adds an affiliate and its link: a consistent copy has as many."""
        nonlocal written
        conn = sqlite3.connect(live_db, timeout=30)
        while not stop.is_set():
            with conn:
                cur = conn.execute(
                    "INSERT INTO affiliate (tg_id, first_name, created_at, updated_at) "
                    "VALUES (?, 'x', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')",
                    (10_000 + written,),
                )
                conn.execute(
                    "INSERT INTO link (code, affiliate_id, created_at) "
                    "VALUES (?, ?, '2026-01-01 00:00:00+00:00')",
                    (f"c{written:09d}", cur.lastrowid),
                )
            written += 1
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written < 200:
            time.sleep(0.01)
        size = backup(f"sqlite://{live_db}", tmp_path / "copy.sqlite3")
    finally:
        stop.set()
        thread.join()

    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    people = copy.execute("SELECT COUNT(*) FROM affiliate").fetchone()[0]
    links = copy.execute("SELECT COUNT(*) FROM link").fetchone()[0]
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copy.close()
    assert size > 0 and people == links and 200 <= people <= written
    assert not (tmp_path / "copy.sqlite3.partial").exists()


def test_the_command_writes_a_dated_file_and_refuses_what_it_cannot_do(
    live_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.__main__ import main

    folder = tmp_path / "backups"
    folder.mkdir()
    env = {**os.environ, "DATABASE_URL": f"sqlite://{live_db}"}
    made = subprocess.run(
        [sys.executable, "-m", "bot", "backup", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    (copy,) = folder.iterdir()
    capsys.readouterr()

    monkeypatch.setenv("DATABASE_URL", f"sqlite://{live_db}")
    again = main(["backup", str(copy)])
    again_said = capsys.readouterr().err
    monkeypatch.setenv("DATABASE_URL", "postgres://u@127.0.0.1:5432/db")
    postgres = main(["backup", str(folder / "x.sqlite3")])
    postgres_said = capsys.readouterr().err

    assert made.returncode == 0 and "backup written" in made.stdout
    assert copy.name.startswith("affrace-") and copy.suffix == ".sqlite3"
    assert again == 1 and "exists already" in again_said
    assert postgres == 1 and "pg_dump" in postgres_said
    with pytest.raises(BackupError, match="no database file"):
        backup(f"sqlite://{tmp_path / 'none.sqlite3'}", tmp_path / "y.sqlite3")
