"""One table from a refusal to its HTTP status and code, for every JSON endpoint (the
advertisers' postbacks and the Mini App's API alike)."""

from __future__ import annotations

from bot.errors import Banned, Conflict, DomainError, NotFound
from bot.services.conversions import Refusal

STATUS = {
    Refusal.INVALID: 400,
    Refusal.UNAUTHENTICATED: 401,
    Refusal.FORBIDDEN: 403,
    Refusal.UNKNOWN: 404,
    Refusal.CONFLICT: 409,
}
CODE = {
    Refusal.INVALID: "invalid",
    Refusal.UNAUTHENTICATED: "unauthenticated",
    Refusal.FORBIDDEN: "forbidden",
    Refusal.UNKNOWN: "not_found",
    Refusal.CONFLICT: "conflict",
}
# HTTP statuses the server itself answers with (the router, the body limit, outages).
CODE_OF_STATUS = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "invalid",
    409: "conflict",
    413: "too_large",
    503: "unavailable",
}


def refusal_of(error: DomainError) -> Refusal:
    """What kind of refusal a domain error is."""
    if isinstance(error, NotFound):
        return Refusal.UNKNOWN
    if isinstance(error, Conflict):
        return Refusal.CONFLICT
    if isinstance(error, Banned):
        return Refusal.FORBIDDEN
    return Refusal.INVALID
