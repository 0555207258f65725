"""initData as Telegram's client hands it to a Mini App, for tests of the app and its API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.stack import TOKEN


def init_data(
    tg_id: int,
    *,
    token: str = TOKEN,
    age: float = 0,
    start_param: str | None = None,
    first_name: str = "Alice",
    language: str = "en",
    allows_write: bool = False,
) -> str:
    """initData as Telegram signs it (HMAC-SHA256 keyed by HMAC("WebAppData", token)).
    `allows_write`: the user lets the bot message them (they have started it)."""
    user: dict[str, Any] = {"id": tg_id, "first_name": first_name, "language_code": language}
    if allows_write:
        user["allows_write_to_pm"] = True
    fields = {
        "auth_date": str(int(time.time() - age)),
        "query_id": "AAH",
        "user": json.dumps(user, separators=(",", ":")),
    }
    if start_param:
        fields["start_param"] = start_param
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def as_user(tg_id: int, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": "tma " + init_data(tg_id, **kwargs)}
