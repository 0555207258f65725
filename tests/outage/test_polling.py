"""Two `python -m bot run --role bot` processes in polling mode, on one Redis and PostgreSQL of
the test's own, against a stand-in Bot API that refuses a getUpdates while another caller's is
open, as Telegram does (409 Conflict), and counts those refusals:

* one polls, the other stands by (no getUpdates is ever refused), a message is answered once;
* kill -9 of the poller: the standby polls within the lease time and answers;
* the killed one, started again, stands by; a graceful stop of the poller hands over at once.

Run it alone with `python3 dev.py test tests/outage/test_polling.py -s`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.outage.harness import (
    TOKEN,
    BotProcess,
    FakeBotApi,
    free_port,
    own_services,
    write_figures,
)
from tests.outage.test_cluster import eventually, metric

pytestmark = [pytest.mark.outage, pytest.mark.usefixtures("steady_collector")]  # it times answers

LEASE_SECONDS = 3.0
FIGURES = Path(__file__).resolve().parents[2] / ".cache" / "cluster-figures.json"
POLLER = "affrace_poller_leader"


@dataclass
class Pollers:
    api: FakeBotApi
    folder: Path
    env: dict[str, str]
    processes: dict[str, BotProcess] = field(default_factory=dict)
    users: Iterator[int] = field(default_factory=lambda: iter(range(9_100, 9_200)))

    def process(self, name: str) -> BotProcess:
        if name not in self.processes:
            port = free_port()
            env = self.env | {"WEB_PORT": str(port), "DATA_DIR": str(self.folder / name)}
            self.processes[name] = BotProcess(env, self.folder / f"{name}.log")
        return self.processes[name]

    def base(self, name: str) -> str:
        return f"http://127.0.0.1:{self.processes[name].port}"

    async def polling(self, http: aiohttp.ClientSession) -> list[str]:
        """The processes that say they hold the poller lease."""
        running = [n for n, p in self.processes.items() if p.process and p.process.poll() is None]
        return [n for n in running if await metric(http, self.base(n), POLLER) == 1.0]

    async def answered_once(self) -> None:
        """A new user writes /start: the bot answers, and no answer comes twice."""
        user = next(self.users)
        self.api.message(user, "/start")
        await eventually(lambda: _some(self.api.texts_to(user)), 20, f"an answer to {user}")
        await asyncio.sleep(1.5)  # a second poller's copy would have come by now
        texts = self.api.texts_to(user)
        assert texts
        assert max(Counter(texts).values()) == 1, f"answered twice: {texts}"


async def _some(items: list[str]) -> bool:
    return bool(items)


@pytest.fixture
async def pollers(tmp_path: Path) -> AsyncIterator[Pollers]:
    async with own_services() as (api, pg, redis):
        env = {
            "BOT_TOKEN": TOKEN,
            "BOT_API_URL": api.url,
            "WEB_HOST": "127.0.0.1",
            "PUBLIC_URL": "https://bot.example",
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis.url,
            "ROLE": "bot",
            "LEASE_SECONDS": str(LEASE_SECONDS),
            "THROTTLE_RATE": "1000",
            "LOG_LEVEL": "INFO",
        }
        world = Pollers(api, tmp_path, env)
        try:
            yield world
        finally:
            for process in world.processes.values():
                process.stop()


async def test_one_process_polls_the_other_stands_by_and_takes_over(pollers: Pollers) -> None:
    async with aiohttp.ClientSession() as http:
        a = pollers.process("a")
        a.start()
        await a.wait_ready()
        await eventually(lambda: _are(pollers.polling(http), ["a"]), 10, "A polls")
        b = pollers.process("b")
        b.start()
        await b.wait_ready()
        await asyncio.sleep(LEASE_SECONDS)  # B has tried the lease a few times by now
        assert await pollers.polling(http) == ["a"]
        assert pollers.api.conflicts == 0  # B never asked for updates while A polled
        assert any("stands by" in line for line in b.log_lines("INFO")), b.tail()
        await pollers.answered_once()

        assert a.process is not None
        a.process.kill()  # kill -9: A never hands the lease back
        a.process.wait(10)
        killed_at = time.monotonic()
        await eventually(lambda: _are(pollers.polling(http), ["b"]), 10, "B polls")
        took_over = time.monotonic() - killed_at
        assert took_over <= LEASE_SECONDS + 0.5  # + the 0.1 s steps of eventually() and scrapes
        await pollers.answered_once()

        a.start()  # back after the crash: B keeps polling, A stands by
        await a.wait_ready()
        await asyncio.sleep(LEASE_SECONDS)
        assert await pollers.polling(http) == ["b"]

        stopped_at = time.monotonic()
        assert b.stop() == 0  # a graceful stop releases the lease: A polls at once
        await eventually(lambda: _are(pollers.polling(http), ["a"]), 10, "A polls again")
        handed_back = time.monotonic() - stopped_at
        assert handed_back <= LEASE_SECONDS
        await pollers.answered_once()
    assert pollers.api.conflicts == 0  # never two pollers at once
    for name, process in pollers.processes.items():
        assert not process.log_lines("ERROR"), f"{name}:\n{process.tail()}"
    write_figures(
        FIGURES,
        "polling",
        {
            "lease_seconds": LEASE_SECONDS,
            "kill_9_to_standby_polling_s": round(took_over, 2),
            "graceful_stop_to_standby_polling_s": round(handed_back, 2),
        },
    )
    print(f"\npoller takeover: kill -9 {took_over:.2f} s, graceful stop {handed_back:.2f} s")


async def _are(found: Awaitable[list[str]], expected: list[str]) -> bool:
    return await found == expected
