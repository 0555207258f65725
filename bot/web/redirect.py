"""GET /r/{code}[/{sub}]: spool the click, then 302 to the offer. HEAD answers the same
redirect without counting (link checkers and previews ask HEAD)."""

from __future__ import annotations

from html import escape

from aiohttp import web

from bot.errors import NotFound, outage
from bot.services.codes import check_label, read_code
from bot.web.keys import CLICKS, SETTINGS

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>
<style>body{{font:16px system-ui,sans-serif;margin:20vh auto;max-width:28em;padding:0 1em;
text-align:center;color:#333}}h1{{font-size:1.4em}}</style></head><body>
<h1>{title}</h1><p>{detail}</p></body></html>"""
MISTYPED = "The address may be mistyped or the offer may have ended."


def page(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        text=PAGE.format(title=escape(title), detail=escape(detail)),
        content_type="text/html",
        headers=headers,
    )


def not_found(detail: str = MISTYPED) -> web.Response:
    return page(404, "This link is not active", detail)


def unavailable() -> web.Response:
    return page(
        503,
        "Back in a moment",
        "This link cannot be opened right now. Please try again in a minute.",
        {"Retry-After": "30", "Cache-Control": "no-store"},
    )


def client_ip(request: web.Request, trust_proxy: bool) -> str:
    if trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.remote or ""


def moved(location: str) -> web.Response:
    return web.Response(
        status=302,
        headers={
            "Location": location,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


async def redirect(request: web.Request) -> web.Response:
    code = read_code(request.match_info["code"])
    if code is None:
        return not_found()
    raw_sub = request.match_info.get("sub")
    sub = check_label(raw_sub) if raw_sub else None  # an unknown label counts on the plain link
    settings = request.app[SETTINGS]
    clicks = request.app[CLICKS]
    try:
        location = await clicks.track(
            code,
            sub,
            ip=client_ip(request, settings.TRUST_PROXY_HEADERS),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except NotFound:
        return not_found()
    except Exception as exc:
        if outage(exc) is None:
            raise
        # A code this process has never seen, while the database cannot say where it leads.
        return unavailable()
    return moved(location)


async def redirect_head(request: web.Request) -> web.Response:
    """Where the link leads, without a click: HEAD is what checkers and previews send."""
    code = read_code(request.match_info["code"])
    if code is None:
        return not_found()
    raw_sub = request.match_info.get("sub")
    sub = check_label(raw_sub) if raw_sub else None
    try:
        location = await request.app[CLICKS].peek(code, sub)
    except NotFound:
        return not_found()
    except Exception as exc:
        if outage(exc) is None:
            raise
        return unavailable()
    return moved(location)
