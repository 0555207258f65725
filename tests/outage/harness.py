"""What the outage tests run on: a PostgreSQL cluster and a Redis server of their own (their
own ports and folders; the shared ones are never touched), a stand-in for Telegram's Bot API
that the real bot process polls, and the real `python -m bot run` process itself."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.services.postbacks import canonical

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:" + "B" * 35
BOT_USER = {"id": 424242, "is_bot": True, "first_name": "Affrace", "username": "affrace_test_bot"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def missing_tools() -> list[str]:
    """What this machine lacks to run the outage tests."""
    missing = []
    if pg_bin() is None:
        missing.append("PostgreSQL server binaries (initdb, pg_ctl)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser (initdb refuses to run as root)")
    return missing


class PgCluster:
    """A throw-away PostgreSQL cluster: start, stop, freeze (SIGSTOP every process), thaw."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="affrace-pg-"))
        self.data = self.dir / "data"
        self.bin = pg_bin()
        assert self.bin is not None
        self.frozen: list[int] = []

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:  # initdb and postgres refuse root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/affrace"

    def init(self) -> None:
        os.chmod(self.dir, 0o777)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )
        self.start()
        self._run(
            str(self.bin / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "affrace",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def processes(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True
        ).stdout.split()
        return [postmaster, *map(int, children)]

    def freeze(self) -> None:
        self.frozen = self.processes()
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    def destroy(self) -> None:
        self.thaw()
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A throw-away Redis: start, stop, freeze, thaw."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@dataclass
class FakeBotApi:
    """Telegram's Bot API as far as the bot uses it: getUpdates serves queued updates (long
    polling), sendMessage and the rest are recorded and answered like Telegram would."""

    port: int = field(default_factory=free_port)
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _messages: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    conflicts: int = 0  # getUpdates refused because another caller was polling
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _polls: dict[int, web.Request] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def message(self, user_id: int, text: str, language: str = "en") -> int:
        """A user sends the bot a private message; returns its update id."""
        update_id = next(self._ids)
        self.updates.append(
            {
                "update_id": update_id,
                "message": {
                    "message_id": next(self._messages),
                    "date": int(time.time()),
                    "chat": {"id": user_id, "type": "private", "first_name": f"U{user_id}"},
                    "from": {
                        "id": user_id,
                        "is_bot": False,
                        "first_name": f"U{user_id}",
                        "language_code": language,
                    },
                    "text": text,
                },
            }
        )
        self._arrived.set()
        return update_id

    def texts_to(self, chat_id: int) -> list[str]:
        return [
            p.get("text", "")
            for _, m, p in self.sent
            if m == "sendMessage" and p.get("chat_id") == str(chat_id)
        ]

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if method == "getMe":
            return self._ok(BOT_USER)
        if method == "getUpdates":
            return await self._poll(request, params)
        self.sent.append((time.monotonic(), method, params))
        if method == "sendMessage":
            return self._ok(
                {
                    "message_id": next(self._messages),
                    "date": int(time.time()),
                    "chat": {"id": int(params["chat_id"]), "type": "private"},
                    "text": params.get("text", ""),
                }
            )
        return self._ok(True)

    async def _poll(self, request: web.Request, params: dict[str, str]) -> web.Response:
        """getUpdates; while another caller's getUpdates is open, refused as Telegram refuses a
        second poller (409), and counted."""
        self._polls = {k: r for k, r in self._polls.items() if r.transport is not None}
        if self._polls:
            self.conflicts += 1
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 409,
                    "description": "Conflict: terminated by other getUpdates request; make "
                    "sure that only one bot instance is running",
                },
                status=409,
            )
        self._polls[id(request)] = request  # until it is answered or its caller goes away
        try:
            return self._ok(await self._get_updates(params))
        finally:
            self._polls.pop(id(request), None)

    async def _get_updates(self, params: dict[str, str]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", "0") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed
        if not self.updates:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(float(params.get("timeout", "1") or 1), 1.0)):
                    await self._arrived.wait()
        return list(self.updates)

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})


class BotProcess:
    """`python -m bot run`, as an operator starts it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.port = int(env["WEB_PORT"])

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self, seconds: float = 60) -> None:
        import aiohttp

        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.process is not None and self.process.poll() is None, self.tail()
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"http://127.0.0.1:{self.port}/ready") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise AssertionError("the bot did not become ready:\n" + self.tail())

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def log_lines(self, level: str) -> list[str]:
        return [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if f"| {level}" in line
        ]


def process_env(api: FakeBotApi, port: int, data_dir: Path, **settings: str) -> dict[str, str]:
    """What every bot process of these tests runs with: the stand-in Bot API, HTTP on
    127.0.0.1:`port`, a data directory of its own, no throttling of the test's own traffic;
    `settings` adds to it or replaces."""
    return {
        "BOT_TOKEN": TOKEN,
        "BOT_API_URL": api.url,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "DATA_DIR": str(data_dir),
        "THROTTLE_RATE": "1000",
        "LOG_LEVEL": "INFO",
        **settings,
    }


def write_figures(path: Path, name: str, figures: dict[str, Any]) -> None:
    """Add one scenario's figures to a JSON file (for the README and the closing note)."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = figures
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def signed_postback(secret: str, txid: str, click_id: str) -> dict[str, str]:
    """A $10 approved sale's postback query, signed with the offer's secret as advertisers do."""
    params = {
        "click_id": click_id,
        "event": "sale",
        "amount": "10.00",
        "currency": "USD",
        "status": "approved",
        "txid": txid,
        "ts": str(int(time.time())),
    }
    params["sig"] = hmac.new(
        secret.encode(), canonical(params).encode(), hashlib.sha256
    ).hexdigest()
    return params


@contextlib.asynccontextmanager
async def own_services() -> AsyncIterator[tuple[FakeBotApi, PgCluster, RedisServer]]:
    """A stand-in Bot API, a PostgreSQL cluster (migrated) and a Redis of the test's own,
    stopped and removed at the end, whatever the test did."""
    from bot import db

    api = FakeBotApi()
    await api.start()
    pg, redis = PgCluster(), RedisServer()
    try:
        await asyncio.to_thread(pg.init)
        redis.start()
        await db.migrate(pg.url)
        yield api, pg, redis
    finally:
        await api.close()
        redis.stop()
        await asyncio.to_thread(pg.destroy)
