"""POST /webhook: Telegram's updates, checked by the secret header, handled before answering.

aiogram's SimpleRequestHandler answers before the handler has run by default, so a crash
loses the update; here a failure answers 500 and Telegram delivers the update again.
"""

from __future__ import annotations

import hmac
import json

from aiogram.types import Update
from aiohttp import web
from loguru import logger
from pydantic import ValidationError

from bot.config import SECRET_RE
from bot.errors import outage
from bot.telegram.updates import Seen, SeenUpdates
from bot.web.keys import BOT, DISPATCHER, SETTINGS

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


def authentic(request: web.Request) -> bool:
    """The secret header matches. A header may hold any bytes (aiohttp keeps undecodable ones
    as surrogates): only a well-formed secret is compared, in constant time."""
    settings = request.app[SETTINGS]
    expected = settings.WEBHOOK_SECRET.get_secret_value() if settings.WEBHOOK_SECRET else ""
    given = request.headers.get(SECRET_HEADER, "")
    return bool(
        expected
        and SECRET_RE.fullmatch(given)
        and hmac.compare_digest(given.encode(), expected.encode())
    )


async def read_update(request: web.Request) -> Update | web.Response:
    """The update in the body, or the 400 that says why it is not one."""
    try:
        data = json.loads(await request.text())
    except RecursionError:
        return error(400, "the body is nested too deeply")
    except (ValueError, LookupError):  # UnicodeDecodeError is a ValueError
        return error(400, "the body is not JSON")
    try:
        return Update.model_validate(data, context={"bot": request.app[BOT]})
    except ValidationError as exc:
        return error(400, f"not a Telegram update: {exc.error_count()} problems")
    except (ValueError, TypeError, RecursionError):
        return error(400, "not a Telegram update")


async def webhook(request: web.Request) -> web.Response:
    if not authentic(request):
        return error(401, "missing or wrong secret token header")
    update = await read_update(request)
    if isinstance(update, web.Response):
        return update
    seen = request.app[SEEN_UPDATES]
    repeat = await not_again(seen, update.update_id)
    if repeat is not None:
        return repeat
    try:
        await request.app[DISPATCHER].feed_update(request.app[BOT], update)
    except Exception as exc:
        await seen.release(update.update_id)  # Telegram's retry handles it
        down = outage(exc)
        if down is None:
            logger.exception("update {} failed; Telegram will send it again", update.update_id)
            return error(500, "the update could not be handled, please retry")
        logger.warning(
            "update {} waits for the {}: Telegram will send it again", update.update_id, down
        )
        return error(503, f"the {down} is unavailable, please retry")
    await seen.done(update.update_id)
    return web.json_response({"ok": True})


async def not_again(seen: SeenUpdates, update_id: int) -> web.Response | None:
    """The answer to an update Telegram sent again, or None when it is ours to handle."""
    claim = await seen.claim(update_id)
    if claim is Seen.DONE:  # handled already, once
        return web.json_response({"ok": True, "duplicate": True})
    if claim is Seen.BUSY:  # another request (or instance) is handling it right now
        return error(503, "this update is being handled, please retry")
    return None


SEEN_UPDATES = web.AppKey("seen_updates", SeenUpdates)
