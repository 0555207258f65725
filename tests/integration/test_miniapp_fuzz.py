"""schemathesis against the Mini App's OpenAPI document, with valid initData: whatever it
generates, the API answers with no 500 (bounded: a seed, a count and a time limit). A
missing-auth warning (the document's auth not working) fails the run too."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from aiohttp.test_utils import TestServer

from bot.factory import create_app
from tests.factories import Factory, race_draft
from tests.miniapp import init_data
from tests.stack import ADMIN_ID, Stack

OPENAPI = Path(__file__).resolve().parents[2] / "webapp" / "openapi.json"
CONFIG = """
[warnings]
fail-on = ["missing_auth"]
"""


async def test_schemathesis_finds_no_server_error(
    stack: Stack, factory: Factory, tmp_path: Path
) -> None:
    await stack.services.races.create(race_draft(opt_in=True))
    await factory.offer(title="Shop")
    server = TestServer(
        create_app(stack.settings, stack.bot, stack.dp, stack.redis, stack.services)
    )
    await server.start_server()
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is a dev dependency"
    try:
        proc = await asyncio.create_subprocess_exec(
            st,
            "run",
            str(OPENAPI),
            "--url",
            str(server.make_url("")).rstrip("/"),
            "--header",
            f"Authorization: tma {init_data(ADMIN_ID)}",  # an admin: the admin API too
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "20261203",
            "--phases",
            "examples,coverage,fuzzing",
            "--request-timeout",
            "10",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 600)
    finally:
        await server.close()
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-4000:]
    assert "No issues found" in report or "passed" in report, report[-2000:]
