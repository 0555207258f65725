"""GET /r/{code}[/{sub}]: count the click, then 302 to the offer."""

from __future__ import annotations

from html import escape

from aiohttp import web

from bot.errors import NotFound
from bot.services.codes import CODE_RE, normalize_label
from bot.web.keys import CLICKS, SETTINGS

NOT_FOUND_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Link not found</title>
<style>body{{font:16px system-ui,sans-serif;margin:20vh auto;max-width:28em;padding:0 1em;
text-align:center;color:#333}}h1{{font-size:1.4em}}</style></head><body>
<h1>This link is not active</h1><p>{detail}</p></body></html>"""


def not_found(detail: str) -> web.Response:
    return web.Response(
        status=404, text=NOT_FOUND_PAGE.format(detail=escape(detail)), content_type="text/html"
    )


def client_ip(request: web.Request, trust_proxy: bool) -> str:
    if trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.remote or ""


async def redirect(request: web.Request) -> web.Response:
    code = request.match_info["code"].lower()
    raw_sub = request.match_info.get("sub")
    if not CODE_RE.match(code):
        return not_found("The address may be mistyped or the offer may have ended.")
    sub = normalize_label(raw_sub) if raw_sub else None
    settings = request.app[SETTINGS]
    try:
        location = await request.app[CLICKS].track(
            code,
            sub,
            ip=client_ip(request, settings.TRUST_PROXY_HEADERS),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except NotFound:
        return not_found("The address may be mistyped or the offer may have ended.")
    return web.Response(
        status=302,
        headers={
            "Location": location,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
