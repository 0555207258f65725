#!/usr/bin/env python3
"""One entry point for a fresh machine with only Python 3.11+:

    python3 dev.py run     # set up .venv if needed, then run the bot (SQLite, no Redis)
    python3 dev.py test    # set up .venv with dev tools if needed, then run the tests

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("AFFRACE_VENV", ROOT / ".venv"))
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".affrace-installed"


def ensure_venv(dev: bool) -> None:
    """Create the virtualenv and install the project when pyproject.toml changed."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    wanted += "+dev" if dev else ""
    if PYTHON.exists() and STAMP.exists():
        have = STAMP.read_text().strip()
        if have == wanted or (have.endswith("+dev") and have[:-4] == wanted):
            return
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f"{ROOT}[dev]" if dev else str(ROOT)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    print("installing dependencies (first run only)", flush=True)
    subprocess.run([*pip, "-e", target], check=True)
    STAMP.write_text(wanted)


# Telegram's telegram-web-app.js for the browser tests (the app itself loads it from Telegram):
# the copy in npm's @twa-dev/sdk (MIT), checked against the digest it had when pinned.
TELEGRAM_JS = ROOT / ".cache" / "telegram-web-app.js"
TWA_PACKAGE = "@twa-dev/sdk@8.0.2"
TWA_SHA256 = "f4a03f7df8841ff5f232ad3a7416033df85594a23ce8b8cab64a82a9dad960d5"


def fetch_telegram_js() -> int:
    """Put Telegram's own Mini App script where the browser tests look (npm pack, no install)."""
    if TELEGRAM_JS.exists() and hashlib.sha256(TELEGRAM_JS.read_bytes()).hexdigest() == TWA_SHA256:
        print(f"{TELEGRAM_JS} is in place")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", "-q", TWA_PACKAGE], cwd=tmp, check=True, stdout=subprocess.DEVNULL
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/src/telegram-web-apps.js")
            assert member is not None
            script = member.read()
    digest = hashlib.sha256(script).hexdigest()
    if digest != TWA_SHA256:
        print(f"{TWA_PACKAGE}'s telegram-web-apps.js has sha256 {digest}, not {TWA_SHA256}")
        return 1
    TELEGRAM_JS.parent.mkdir(exist_ok=True)
    TELEGRAM_JS.write_bytes(script)
    print(f"wrote {TELEGRAM_JS}")
    return 0


# `dev.py dev`: the bot, restarted when its code or catalogues change (watchfiles). It is
# stopped with SIGINT first, which it answers with its clean stop (the spool drained).
DEV_RUNNER = """
import sys
from watchfiles import DefaultFilter, run_process

class Code(DefaultFilter):
    def __call__(self, change, path):
        return super().__call__(change, path) and path.endswith((".py", ".po"))

def said(changes):
    names = sorted({p.rsplit("/", 1)[-1] for _, p in changes})
    print("dev: restarting, changed:", ", ".join(names)[:200], flush=True)

run_process(
    "bot", "handlers", "keyboards", "models", "scheduler", "locales",
    target=" ".join([sys.executable, "-m", "bot", "run", *sys.argv[1:]]),
    target_type="command", watch_filter=Code(), sigint_timeout=20, callback=said,
)
"""


def run(rest: list[str]) -> int:
    ensure_venv(dev=False)
    command = [str(PYTHON), "-m", "bot", "run", *rest]
    if os.name == "posix":  # become the bot: a supervisor's SIGTERM then reaches it
        os.execv(command[0], command)
    return subprocess.call(command)


def test(rest: list[str]) -> int:
    ensure_venv(dev=True)
    return subprocess.call([str(PYTHON), "-m", "pytest", *rest])


def lint(_rest: list[str]) -> int:
    ensure_venv(dev=True)
    code = subprocess.call([str(PYTHON), "-m", "ruff", "check", "."])
    return code or subprocess.call([str(PYTHON), "-m", "mypy"])


def dev(rest: list[str]) -> int:
    ensure_venv(dev=True)
    return subprocess.call([str(PYTHON), "-c", DEV_RUNNER, *rest])


def locales(_rest: list[str]) -> int:
    ensure_venv(dev=False)
    script = (
        "from bot.i18n import update_catalogues;"
        "changed = [];"
        "missing = update_catalogues(changed=changed);"
        "[print('updated', p) for p in changed];"
        "changed or print('catalogues unchanged');"
        "[print(lang, 'lacks', len(ids), 'translations') for lang, ids in missing.items()]"
    )
    return subprocess.call([str(PYTHON), "-c", script])


def bench(rest: list[str]) -> int:
    ensure_venv(dev=True)
    return subprocess.call([str(PYTHON), str(ROOT / "bench" / "run_all.py"), *rest])


COMMANDS = {
    "run": run,
    "test": test,
    "lint": lint,
    "dev": dev,
    "locales": locales,
    "telegram-js": lambda _rest: fetch_telegram_js(),
    "bench": bench,
}


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may be started by any python3
        sys.exit("affrace needs Python 3.11 or newer")
    command = argv[0] if argv else "help"
    os.chdir(ROOT)
    if command in COMMANDS:
        return COMMANDS[command](argv[1:])
    print(__doc__)
    print("Also: python3 dev.py lint (ruff + mypy), python3 dev.py locales (update .po files),")
    print("      python3 dev.py telegram-js (Telegram's Mini App script for the browser tests),")
    print("      python3 dev.py dev (the bot, restarted when the code changes)")
    print("      python3 dev.py bench [--quick] (every benchmark, one table: bench/README.md)")
    return 0 if command in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
