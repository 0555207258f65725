"""A Bot API stand-in on a real local HTTP port that can be told how to answer each call: a
429 with retry_after, a 403, a 400, a 5xx, a proxy's HTML error page, or no answer in time
(with or without having taken the message). aiogram's own aiohttp session talks to it, so
its timeouts and error mapping run for real.

`calls` is every request that reached it; `delivered` is what a user would see: what it took
(answered 200, or took and then hung past the client's timeout).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from tests.mocked_bot import BOT_ID, BOT_USERNAME
from tests.stack import TOKEN

CLIENT_TIMEOUT = 0.3  # seconds the bot waits for an answer in these tests
HANG = CLIENT_TIMEOUT + 0.4  # longer than that: the request times out


@dataclass(frozen=True)
class Answer:
    status: int = 200
    description: str = ""
    retry_after: int | None = None
    hang: bool = False  # no answer within the client's timeout
    taken: bool = True  # with `hang`: Telegram took the message before its answer was lost
    html: bool = False  # a proxy's HTML error page instead of Telegram's JSON

    @property
    def takes_effect(self) -> bool:
        return self.status == 200 and (not self.hang or self.taken)


OK = Answer()


def flood(seconds: int) -> Answer:
    return Answer(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)


BLOCKED = Answer(403, "Forbidden: bot was blocked by the user")
NOT_MODIFIED = Answer(
    400,
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message",
)
QUERY_TOO_OLD = Answer(
    400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
SERVER_ERROR = Answer(500, "Internal Server Error")
BAD_GATEWAY = Answer(502, "Bad Gateway", html=True)
LOST_ANSWER = Answer(hang=True, taken=True)  # Telegram took it; the answer never came
NO_ANSWER = Answer(hang=True, taken=False)  # it never reached Telegram


def bad_request(reason: str) -> Answer:
    return Answer(400, f"Bad Request: {reason}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class FakeTelegram:
    port: int = field(default_factory=free_port)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    delivered: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    script: dict[str, deque[Answer]] = field(default_factory=lambda: defaultdict(deque))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(500))
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, method: str, *answers: Answer) -> None:
        """The next calls of `method` get these answers, in order; then 200 OK."""
        self.script[method].extend(answers)

    def calls_of(self, method: str, chat_id: int | None = None) -> list[dict[str, str]]:
        return [p for m, p in self.calls if m == method and _to(p, chat_id)]

    def seen(self, method: str, chat_id: int | None = None) -> list[dict[str, str]]:
        """What took effect: what the user sees."""
        return [p for m, p in self.delivered if m == method and _to(p, chat_id)]

    def bot(self) -> Bot:
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.url))
        session.timeout = CLIENT_TIMEOUT
        return Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if method == "getMe":
            return self._ok(self._result(method, params))
        self.calls.append((method, params))
        queued = self.script.get(method)
        answer = queued.popleft() if queued else OK
        if answer.takes_effect:
            self.delivered.append((method, params))
        if answer.hang:
            await asyncio.sleep(HANG)
        if answer.html:
            body = f"<html><body><h1>{answer.status} {answer.description}</h1></body></html>"
            return web.Response(status=answer.status, text=body, content_type="text/html")
        if answer.status != 200:
            extra = (
                {"parameters": {"retry_after": answer.retry_after}} if answer.retry_after else {}
            )
            return web.json_response(
                {
                    "ok": False,
                    "error_code": answer.status,
                    "description": answer.description,
                    **extra,
                },
                status=answer.status,
            )
        return self._ok(self._result(method, params))

    def _result(self, method: str, params: dict[str, str]) -> Any:
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Affrace",
                "username": BOT_USERNAME,
            }
        if method in ("sendMessage", "sendPhoto", "editMessageText"):
            message: dict[str, Any] = {
                "message_id": int(params.get("message_id") or next(self._ids)),
                "date": int(time.time()),
                "chat": {"id": int(params.get("chat_id") or 1), "type": "private"},
            }
            if method == "sendPhoto":
                message["photo"] = [
                    {"file_id": "p", "file_unique_id": "p", "width": 9, "height": 9}
                ]
            else:
                message["text"] = params.get("text", "")
            return message
        return True

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})


def _to(params: dict[str, str], chat_id: int | None) -> bool:
    return chat_id is None or params.get("chat_id") == str(chat_id)
