"""The Mini App's files: /app (the page), /app/static/* (its scripts and styles, from
webapp/, no build step) and /app/i18n/{lang}.json (its strings, from the catalogues)."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from bot.i18n import LANGUAGES, webapp_messages

WEBAPP = Path(__file__).resolve().parents[3] / "webapp"
SERVED = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
NO_CACHE = {"Cache-Control": "no-cache"}  # no build step, no hashed names: revalidate


async def page(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(WEBAPP / "index.html", headers=NO_CACHE)


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = WEBAPP / name
    if "/" in name or name.startswith(".") or path.suffix not in SERVED or not path.is_file():
        raise web.HTTPNotFound(reason="no such file")
    return web.FileResponse(path, headers={**NO_CACHE, "Content-Type": SERVED[path.suffix]})


async def openapi(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(WEBAPP / "openapi.json", headers={"Content-Type": "application/json"})


class Strings:
    """Each language's strings, read once (the catalogues change only with a deploy)."""

    def __init__(self) -> None:
        self.cache: dict[str, bytes] = {}

    async def __call__(self, request: web.Request) -> web.Response:
        lang = request.match_info["lang"]
        if lang not in LANGUAGES:
            raise web.HTTPNotFound(reason="no such language")
        if lang not in self.cache:
            body = {"lang": lang, "messages": webapp_messages(lang)}
            self.cache[lang] = json.dumps(body, ensure_ascii=False).encode()
        return web.Response(
            body=self.cache[lang],
            content_type="application/json",
            headers={"Cache-Control": "max-age=300"},
        )


def setup(app: web.Application) -> None:
    app.router.add_get("/app", page)
    app.router.add_get("/app/", page)
    app.router.add_get("/app/static/{name}", asset)
    app.router.add_get("/app/i18n/{lang}.json", Strings().__call__)
    app.router.add_get("/api/openapi.json", openapi)
