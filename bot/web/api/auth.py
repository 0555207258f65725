"""Every /api/ and /ws/ request is a Telegram user's, proven by the initData it carries;
refusals are JSON in the user's language with the status from the one refusal table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.errors import N_, Banned, DomainError
from bot.i18n import pick_language
from bot.services.affiliates import Profile
from bot.services.conversions import Refusal
from bot.web.api.deps import API, ApiDeps
from bot.web.initdata import Unauthenticated, WebAppAuth, from_header, validate
from bot.web.refusals import CODE, STATUS, refusal_of
from models import Affiliate

USER = web.RequestKey("user", Affiliate)
AUTH = web.RequestKey("auth", WebAppAuth)
LOCALE = web.RequestKey("locale", str)
OPEN_PATHS = frozenset({"/api/openapi.json"})

# The reasons initData is refused, as catalogue ids (initdata.py words them in English).
UNAUTHENTICATED_TEXT = N_("This page must be opened from the bot in Telegram.")
STALE_TEXT = N_("This session has expired. Close the app and open it again from the bot.")


def guarded(path: str) -> bool:
    return (path.startswith(("/api/", "/ws/"))) and path not in OPEN_PATHS


def refusal(
    deps: ApiDeps, locale: str, kind: Refusal, message: str, **params: object
) -> web.Response:
    text = deps.i18n.gettext(message, locale=locale)
    if params:
        text = text.format(**params)
    return web.json_response({"ok": False, "code": CODE[kind], "error": text}, status=STATUS[kind])


def header_language(request: web.Request) -> str:
    """Before the user is known: the webview's Accept-Language (Telegram's app language)."""
    first = request.headers.get("Accept-Language", "").split(",")[0].strip()
    return pick_language(None, first or None)


def init_data(request: web.Request) -> str:
    if request.path.startswith("/ws/"):  # a browser's WebSocket cannot set headers
        value = request.query.get("auth")
        if not value:
            raise Unauthenticated("no initData: the auth parameter is missing")
        return value
    return from_header(request.headers.get("Authorization"))


async def user_of(deps: ApiDeps, auth: WebAppAuth) -> Affiliate:
    user, _created = await deps.affiliates.load_or_create(
        Profile(
            tg_id=auth.user.id,
            first_name=auth.user.first_name or "",
            last_name=auth.user.last_name,
            username=auth.user.username,
            language_code=auth.user.language_code,
        )
    )
    return user


@web.middleware
async def api_guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not guarded(request.path):
        return await handler(request)
    deps = request.app[API]
    settings = deps.settings
    try:
        auth = validate(
            settings.BOT_TOKEN.get_secret_value(),
            init_data(request),
            settings.MINIAPP_AUTH_MAX_AGE,
        )
    except Unauthenticated as exc:
        text = STALE_TEXT if "too old" in str(exc) else UNAUTHENTICATED_TEXT
        return refusal(deps, header_language(request), Refusal.UNAUTHENTICATED, text)
    user = await user_of(deps, auth)
    locale = pick_language(user.language, auth.user.language_code)
    request[AUTH] = auth
    request[USER] = user
    request[LOCALE] = locale
    if user.is_banned:
        return refusal(deps, locale, Refusal.FORBIDDEN, Banned.message)
    try:
        with deps.i18n.context(), deps.i18n.use_locale(locale):
            return await handler(request)
    except DomainError as exc:
        return refusal(deps, locale, refusal_of(exc), exc.message, **exc.params)
