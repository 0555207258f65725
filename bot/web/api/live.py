"""/ws/races/{race_id}: a race's board, live. The client gets the race as it sees it at once
(so a reconnect is never stale) and again after every tick that changed it, whichever
instance made the tick (bot.live.RaceFeed)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from loguru import logger

from bot.errors import DomainError
from bot.web.api.auth import LOCALE, USER
from bot.web.api.deps import API, ApiDeps
from bot.web.api.views import path_id, race_card_json, race_card_texts
from models import Affiliate

SEND_TIMEOUT = 5.0
SENDS_AT_ONCE = 256  # senders of a tick's cards: a slow client holds one of them
YIELD_EVERY = 64  # sends by one sender between its turns to the rest of the event loop


class _Collector:
    """The cyclic garbage collector, paused while any fan-out runs. A process holding 10,000
    sockets tracks over a million objects, and a full collection of them stops the event loop
    for about a second (0.9-1.25 s measured); the objects a fan-out keeps until its last send
    set one off in the middle of most ticks. What a fan-out makes is freed by reference
    counting as each message goes out, not by the collector; what other work makes meanwhile
    is looked at once the fan-out ends."""

    def __init__(self) -> None:
        self.running = 0
        self.resume = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        if not self.running:
            self.resume = gc.isenabled()  # not if someone else turned it off
            gc.disable()
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            if not self.running and self.resume:
                gc.enable()


COLLECTOR = _Collector()  # one per process, as the collector is


@dataclass(eq=False)
class Viewer:
    ws: web.WebSocketResponse
    user: Affiliate
    locale: str


@dataclass
class Boards:
    """This instance's WebSocket clients, by race."""

    deps: ApiDeps
    viewers: dict[int, set[Viewer]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.viewers.values())

    def add(self, race_id: int, viewer: Viewer) -> None:
        self.viewers.setdefault(race_id, set()).add(viewer)

    def remove(self, race_id: int, viewer: Viewer) -> None:
        here = self.viewers.get(race_id)
        if here is not None:
            here.discard(viewer)
            if not here:
                del self.viewers[race_id]

    async def changed(self, race_id: int) -> None:
        """A tick moved race `race_id`: send each of its viewers the race as they see it. The
        cards are built together (what viewers share is read and serialised once; a few
        queries and Redis round trips whatever their number), then sent by SENDS_AT_ONCE
        senders taking the next message in turn: a slow client holds one of them, never the
        others' updates, and no task is made per viewer."""
        viewers = list(self.viewers.get(race_id, ()))
        if not viewers:
            return
        with COLLECTOR.paused():
            await self._fan_out(race_id, viewers)

    async def _fan_out(self, race_id: int, viewers: list[Viewer]) -> None:
        try:
            texts = await race_card_texts(
                self.deps, race_id, [(v.user, v.locale) for v in viewers]
            )
        except DomainError as exc:  # the race went away (cancelled) while watched
            await asyncio.gather(*(self._gone(race_id, v, exc) for v in viewers))
            return
        messages = zip(viewers, texts, strict=True)

        async def sender() -> None:
            for n, (viewer, text) in enumerate(messages, 1):  # shared: each taken once
                await self._send(race_id, viewer, f'{{"type":"card","card":{text}}}')
                if n % YIELD_EVERY == 0:  # a send that need not wait never yields
                    await asyncio.sleep(0)

        await asyncio.gather(*(sender() for _ in range(min(SENDS_AT_ONCE, len(viewers)))))

    async def _send(self, race_id: int, viewer: Viewer, message: str) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT):  # no task per send, unlike wait_for
                await viewer.ws.send_str(message)
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            logger.debug("race {} viewer dropped: {!r}", race_id, exc)
            self.remove(race_id, viewer)
            with contextlib.suppress(Exception):
                await viewer.ws.close()

    async def _gone(self, race_id: int, viewer: Viewer, exc: DomainError) -> None:
        self.remove(race_id, viewer)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(viewer.ws.send_json(self.gone(exc, viewer)), SEND_TIMEOUT)
            await viewer.ws.close()

    def gone(self, exc: DomainError, viewer: Viewer) -> dict[str, object]:
        text = self.deps.i18n.gettext(exc.message, locale=viewer.locale).format(**exc.params)
        return {"type": "error", "code": "not_found", "error": text}

    async def close_all(self) -> None:
        for race_id in list(self.viewers):
            for viewer in list(self.viewers.get(race_id, ())):
                with contextlib.suppress(Exception):
                    await viewer.ws.close(code=1001, message=b"server shutting down")
        self.viewers.clear()


BOARDS = web.AppKey("boards", Boards)


async def race_socket(request: web.Request) -> web.StreamResponse:
    deps = request.app[API]
    boards = request.app[BOARDS]
    race_id = path_id(request, "race_id")
    viewer_user, locale = request[USER], request[LOCALE]
    first = await race_card_json(deps, race_id, viewer_user, locale)  # a 404 before upgrading
    # No permessage-deflate, which browsers offer: a compressor per socket held ~94 KB (0.9 GB
    # for 10,000 viewers), its first update cost 150 µs and each later one 15 µs, for cards of
    # about 1 KB sent once a tick.
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=1024, compress=False)
    await ws.prepare(request)
    viewer = Viewer(ws, viewer_user, locale)
    boards.add(race_id, viewer)
    try:
        await ws.send_json({"type": "card", "card": first})
        async for message in ws:  # clients only listen; anything they send is ignored
            if message.type is WSMsgType.ERROR:
                break
    except DomainError as exc:  # the race went away while watched
        await ws.send_json(boards.gone(exc, viewer))
    finally:
        boards.remove(race_id, viewer)
    return ws


def setup(app: web.Application, deps: ApiDeps) -> Boards:
    boards = Boards(deps)
    app[BOARDS] = boards
    deps.feed.listeners.append(boards.changed)
    deps.metrics.gauge(
        "affrace_websocket_clients", "Live race boards open on this process", lambda: boards.count
    )
    app.router.add_get("/ws/races/{race_id}", race_socket, allow_head=False)

    async def close(_app: web.Application) -> None:
        await boards.close_all()

    app.on_shutdown.append(close)
    return boards
