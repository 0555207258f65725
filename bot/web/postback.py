"""GET|POST /postback/{offer_id}: an advertiser reports a conversion.

Answered only after the conversion is committed; a repeat gets the first answer. Whatever
the body holds, the answer is JSON: a 400 that says what was wrong, never a 500.
"""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.services.conversions import Answer, Refusal, Verdict, refused
from bot.services.inputs import ascii_int, has_control
from bot.web.api.deps import API
from bot.web.keys import NOTIFIER, POSTBACKS, SETTINGS
from bot.web.redirect import client_ip
from bot.web.refusals import STATUS

MAX_PARAMS = 50
MAX_VALUE = 1024
MAX_KEY = 64


def reply(answer: Answer) -> web.Response:
    """The advertiser's JSON: 200 for stored and duplicate, the refusal's status otherwise."""
    body = {
        "result": answer.verdict.value,
        "conversion_id": answer.conversion_id,
        "status": answer.status.value if answer.status else None,
        "reason": answer.reason,
    }
    status = STATUS[answer.refusal] if answer.refusal is not None else 200
    return web.json_response(body, status=status)


class BadBody(Exception):
    """The request's parameters cannot be read; the message says why."""


def plain(key: str, value: object) -> str:
    """A JSON value as a parameter: strings and numbers only."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise BadBody(f"{key[:MAX_KEY]} must be a plain value")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def read_body(request: web.Request) -> dict[str, str]:
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.text())
        except RecursionError:
            raise BadBody("the JSON body is nested too deeply") from None
        except (ValueError, LookupError):  # UnicodeDecodeError is a ValueError; an unknown charset
            raise BadBody("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadBody("the JSON body must be an object")
        return {str(key): plain(str(key), value) for key, value in body.items()}
    try:
        form = await request.post()
    except (ValueError, LookupError, AssertionError, HttpProcessingError):
        # a broken multipart boundary or part, an unknown charset, undecodable bytes
        raise BadBody("the body is not a valid form") from None
    params: dict[str, str] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            raise BadBody(f"{key[:MAX_KEY]} must be a plain value, not a file")
        params[key] = value
    return params


async def read_params(request: web.Request) -> dict[str, str]:
    """Query string plus a form or JSON body, as one flat str→str dict."""
    params: dict[str, str] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        params.update(await read_body(request))
    if len(params) > MAX_PARAMS:
        raise BadBody("too many parameters")
    for key, value in params.items():
        if len(key) > MAX_KEY or len(value) > MAX_VALUE:
            raise BadBody("too long a parameter name or value")
        if has_control(key) or _surrogate(value):
            raise BadBody(f"{key[:MAX_KEY]!r} holds characters that are not text")
    return params


def _surrogate(text: str) -> bool:
    """A lone surrogate (JSON can carry one): not text, and no encoder takes it."""
    return not text.isascii() and any("\ud800" <= c <= "\udfff" for c in text)


async def postback(request: web.Request) -> web.Response:
    ip = client_ip(request, request.app[SETTINGS].TRUST_PROXY_HEADERS)
    offer_id = ascii_int(request.match_info["offer_id"])
    params: dict[str, str] = dict(request.query)
    answer = await _answer(request, offer_id, params, ip)
    response = reply(answer)
    deps = request.app[API]
    deps.tally.count(answer.verdict)  # today's postbacks by outcome
    deps.metrics.postbacks.labels(answer.verdict.value).inc()
    # The admins' postback log (masked, in the background): rejected ones too.
    deps.journal.note(offer_id, params, ip, answer.verdict.value, response.status, answer.reason)
    return response


async def _answer(
    request: web.Request, offer_id: int | None, params: dict[str, str], ip: str
) -> Answer:
    if offer_id is None:
        return refused(Refusal.UNKNOWN, "unknown offer")
    try:
        params.update(await read_params(request))
    except BadBody as exc:
        return refused(Refusal.INVALID, str(exc))
    answer = await request.app[POSTBACKS].postback(offer_id, params, ip)
    if answer.verdict is Verdict.STORED and answer.affiliate_id is not None:
        request.app[NOTIFIER].conversion_stored(answer.affiliate_id)
        if answer.held and answer.conversion_id is not None:
            await request.app[NOTIFIER].held_for_review(
                answer.conversion_id, answer.held, request.app[SETTINGS].ADMIN_IDS
            )
    return answer
