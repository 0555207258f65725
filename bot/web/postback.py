"""GET|POST /postback/{offer_id}: an advertiser reports a conversion.

Answered only after the conversion is committed; a repeat gets the first answer.
"""

from __future__ import annotations

import json

from aiohttp import web

from bot.services.conversions import rejected
from bot.web.keys import CONVERSIONS, NOTIFIER, SETTINGS
from bot.web.redirect import client_ip

MAX_PARAMS = 50
MAX_VALUE = 1024


async def read_params(request: web.Request) -> dict[str, str] | str:
    """Query string plus a form or JSON body, as one flat str→str dict (or what was wrong)."""
    params: dict[str, str] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = json.loads(await request.text())
            except (ValueError, UnicodeDecodeError):
                return "the body is not valid JSON"
            if not isinstance(body, dict):
                return "the JSON body must be an object"
            for key, value in body.items():
                if isinstance(value, (dict, list)):
                    return f"{key} must be a plain value"
                params[str(key)] = "" if value is None else str(value)
        else:
            try:
                form = await request.post()
            except UnicodeDecodeError:
                return "the body is not valid UTF-8"
            for key, value in form.items():
                if not isinstance(value, str):
                    return f"{key} must be a plain value, not a file"
                params[key] = value
    if len(params) > MAX_PARAMS or any(len(v) > MAX_VALUE for v in params.values()):
        return "too many or too long parameters"
    return params


async def postback(request: web.Request) -> web.Response:
    raw_id = request.match_info["offer_id"]
    if not raw_id.isdigit() or len(raw_id) > 9:
        outcome = rejected(404, "unknown offer")
        return web.json_response(outcome.body(), status=outcome.http_status)
    params = await read_params(request)
    if isinstance(params, str):
        outcome = rejected(400, params)
        return web.json_response(outcome.body(), status=outcome.http_status)
    ip = client_ip(request, request.app[SETTINGS].TRUST_PROXY_HEADERS)
    outcome = await request.app[CONVERSIONS].postback(int(raw_id), params, ip)
    if outcome.result == "stored" and outcome.affiliate_id is not None:
        request.app[NOTIFIER].conversion_stored(outcome.affiliate_id)
    return web.json_response(outcome.body(), status=outcome.http_status)
