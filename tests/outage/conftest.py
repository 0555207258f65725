"""The outage tests need PostgreSQL's server binaries and redis-server on this machine. Where
they are missing these tests are not collected, unless TEST_OUTAGE=required (as in CI), which
makes their absence a failure."""

from __future__ import annotations

import os

from tests.outage.harness import missing_tools

MISSING = missing_tools()
if MISSING and os.environ.get("TEST_OUTAGE") == "required":
    raise RuntimeError("TEST_OUTAGE=required but this machine lacks: " + ", ".join(MISSING))
NEEDS_THEM = [
    "test_outages.py",
    "test_spool_kill.py",
    "test_cluster.py",
    "test_kill9.py",
    "test_polling.py",
]
collect_ignore = NEEDS_THEM if MISSING else []
