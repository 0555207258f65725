"""POST /webhook: Telegram's updates, checked by the secret header, handled before answering.

aiogram's SimpleRequestHandler answers before the handler has run by default, so a crash
loses the update; here a failure answers 500 and Telegram delivers the update again.
"""

from __future__ import annotations

import hmac

from aiogram.types import Update
from aiohttp import web
from loguru import logger
from pydantic import ValidationError

from bot.web.keys import BOT, DISPATCHER, SETTINGS

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


async def webhook(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    expected = settings.WEBHOOK_SECRET.get_secret_value() if settings.WEBHOOK_SECRET else ""
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return error(401, "missing or wrong secret token header")
    try:
        data = await request.json()
    except ValueError:
        return error(400, "the body is not JSON")
    bot = request.app[BOT]
    try:
        update = Update.model_validate(data, context={"bot": bot})
    except ValidationError as exc:
        return error(400, f"not a Telegram update: {exc.error_count()} problems")
    try:
        await request.app[DISPATCHER].feed_update(bot, update)
    except Exception:
        logger.exception("update {} failed; Telegram will send it again", update.update_id)
        return error(500, "the update could not be handled, please retry")
    return web.json_response({"ok": True})
