"""An admin's test postback: correctly signed, sent over HTTP to our own endpoint exactly as
an advertiser's server would send it, with test=1 so that nothing is stored."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

from bot.errors import N_, NotFound
from bot.services.affiliates import create_link
from bot.services.postbacks import sign
from models import Affiliate, Link, Offer

TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Shot:
    url: str  # as sent, the signature shortened
    status: int | None  # None: nothing answered
    body: str


class PostbackTester:
    def __init__(self, base_url: Callable[[], str]) -> None:
        self.base_url = base_url  # read at each shot (the server's own address)

    async def fire(self, offer_id: int, admin: Affiliate) -> Shot:
        offer = await Offer.get_or_none(id=offer_id)
        if offer is None:
            raise NotFound(N_("There is no offer #{id}."), id=offer_id)
        params = await test_params(offer, admin)
        url = f"{self.base_url()}/postback/{offer.id}"
        shown = "&".join(
            f"{k}={v[:8] + '…' if k in ('sig', 'token') else v}" for k, v in params.items()
        )
        try:
            timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(url, params=params) as resp,
            ):
                body = await resp.text()
                return Shot(f"{url}?{shown}", resp.status, pretty(body))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Shot(f"{url}?{shown}", None, repr(exc)[:300])


async def test_params(offer: Offer, admin: Affiliate) -> dict[str, str]:
    """A test postback's parameters (test=1), signed now with the offer's secret (or its
    token), naming the admin's own link of the offer (made if need be)."""
    link = await Link.get_or_none(affiliate_id=admin.id, offer_id=offer.id)
    link = link or await create_link(admin, offer.id)
    params = {
        "amount": "0",
        "code": link.code,
        "currency": offer.currency,
        "event": "test",
        "status": "approved",
        "test": "1",
        "txid": f"test-{secrets.token_hex(6)}",
    }
    if offer.secret:
        params["ts"] = str(int(time.time()))
        params["sig"] = sign(params, offer.secret)
    else:
        params["token"] = offer.token or ""
    return params


async def example_url(offer: Offer, admin: Affiliate, public_url: str) -> str:
    """A complete, correctly signed test postback to copy (valid for five minutes)."""
    return f"{public_url}/postback/{offer.id}?{urlencode(await test_params(offer, admin))}"


def pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), ensure_ascii=False)[:1000]
    except ValueError:
        return body[:1000]
