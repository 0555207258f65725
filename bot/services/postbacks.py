"""Advertisers' postbacks: read every parameter strictly, authenticate (HMAC signature or a
per-offer token, an optional IP allow-list), find the click or link it names, and hand the
conversion to ConversionService. Nothing here knows HTTP: the edge passes a flat str→str
mapping and gets an `Answer` back."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.errors import InvalidInput
from bot.services.amounts import to_minor
from bot.services.batching import GroupLookup
from bot.services.cache import TtlCache
from bot.services.codes import check_label, read_code
from bot.services.conversions import (
    CACHE_SECONDS,
    Answer,
    Claim,
    ClickRef,
    ConversionService,
    LinkRef,
    Refusal,
    Verdict,
    refused,
)
from bot.services.inputs import ascii_int, tg_id
from bot.services.sql import as_datetime, connection, is_postgres
from models import Affiliate, ConversionStatus, Link, Offer

TS_WINDOW = 300
# Whole-string patterns (always fullmatch): an advertiser's value is taken as sent or refused.
TXID_RE = re.compile(r"[\x21-\x7e]{1,128}")
EVENT_RE = re.compile(r"[a-z0-9_.-]{1,32}")
WORD_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # an event or status word, before lower-casing
CURRENCY_RE = re.compile(r"[A-Za-z]{3}")
CLICK_ID_RE = re.compile(r"[0-9a-fA-F]{32}")
SIG_RE = re.compile(r"[0-9a-fA-F]{64}")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
TS_MAX = 10**11  # unix seconds, year 5138: anything longer is not a time
DEFAULT_STATUS_WORDS = {
    "pending": ConversionStatus.PENDING,
    "hold": ConversionStatus.PENDING,
    "approved": ConversionStatus.APPROVED,
    "confirmed": ConversionStatus.APPROVED,
    "paid": ConversionStatus.APPROVED,
    "rejected": ConversionStatus.REJECTED,
    "declined": ConversionStatus.REJECTED,
    "cancelled": ConversionStatus.REJECTED,
    "reversed": ConversionStatus.REVERSED,
    "chargeback": ConversionStatus.REVERSED,
    "refunded": ConversionStatus.REVERSED,
}
UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # RFC 3986: nothing in it is percent-encoded


def encode(value: str) -> str:
    return value if UNRESERVED.fullmatch(value) else quote(value, safe="-_.~")


def canonical(params: Mapping[str, str]) -> str:
    """Every parameter but sig, sorted by name, as name=value (RFC 3986 encoded), joined by &."""
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(params.items()) if k != "sig")


def sign(params: Mapping[str, str], secret: str) -> str:
    return hmac.new(secret.encode(), canonical(params).encode(), hashlib.sha256).hexdigest()


def authenticate(offer: Offer, params: Mapping[str, str], now: float) -> Answer | None:
    """None when the postback is the advertiser's; else why not."""
    if "sig" in params:
        return _by_signature(offer, params, now)
    if "token" in params:
        return _by_token(offer, params["token"])
    return refused(Refusal.UNAUTHENTICATED, "missing sig (with ts) or token")


def _by_signature(offer: Offer, params: Mapping[str, str], now: float) -> Answer | None:
    if not offer.secret:
        return refused(Refusal.UNAUTHENTICATED, "this offer has no signing secret; use token")
    ts = ascii_int(params.get("ts", ""), TS_MAX)
    if ts is None:
        return refused(Refusal.UNAUTHENTICATED, "ts must be unix seconds")
    if abs(ts - now) > TS_WINDOW:
        return refused(Refusal.UNAUTHENTICATED, "ts is more than 5 minutes from now")
    given = params["sig"]
    if SIG_RE.fullmatch(given) and any(
        secret and hmac.compare_digest(sign(params, secret), given.lower())
        for secret in (offer.secret, offer.secret_previous)
    ):
        return None
    return refused(Refusal.UNAUTHENTICATED, "bad signature")


def _by_token(offer: Offer, given: str) -> Answer | None:
    if (
        offer.token
        and TOKEN_RE.fullmatch(given)
        and hmac.compare_digest(given.encode(), offer.token.encode())
    ):
        return None
    return refused(Refusal.UNAUTHENTICATED, "bad token")


def ip_allowed(ip: str, allowlist: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for item in allowlist.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            if address in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True, slots=True)
class Reference:
    """What a postback names to attribute it: our click id, or a link code (and label)."""

    click_id: str | None = None
    code: str | None = None
    sub: str | None = None


@dataclass(frozen=True, slots=True)
class Fields:
    """A postback's parameters, each read strictly; no database needed."""

    txid: str
    event: str
    amount_minor: int
    status: ConversionStatus
    converter: int | None
    reference: Reference


def read_reference(params: Mapping[str, str]) -> Reference | Answer:
    if params.get("click_id"):
        click_id = params["click_id"]
        if not CLICK_ID_RE.fullmatch(click_id):
            return refused(Refusal.INVALID, "click_id must be the 32 hex characters we sent")
        return Reference(click_id=click_id.lower())
    if params.get("code"):
        code = read_code(params["code"])
        if code is None:
            return refused(Refusal.INVALID, "code must be an affiliate's link code")
        sub = None
        if params.get("sub"):
            sub = check_label(params["sub"])
            if sub is None:
                return refused(
                    Refusal.INVALID, "sub must be a label: a-z 0-9 and inner dashes, 1-32"
                )
        return Reference(code=code, sub=sub)
    return refused(Refusal.UNKNOWN, "unknown click_id or code for this offer")


class BadParameter(Exception):
    """One parameter is wrong; the reason names it."""

    def __init__(self, reason: str, refusal: Refusal = Refusal.INVALID) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refusal = refusal


def _word(params: Mapping[str, str], name: str, default: str, problem: str) -> str:
    value = params.get(name, default)
    if not WORD_RE.fullmatch(value):
        raise BadParameter(problem)
    return value.lower()


def _status(offer: Offer, params: Mapping[str, str]) -> ConversionStatus:
    words = {
        **DEFAULT_STATUS_WORDS,
        **{k.lower(): ConversionStatus(v) for k, v in (offer.status_map or {}).items()},
    }
    raw = params.get("status", "approved")
    if not WORD_RE.fullmatch(raw) or raw.lower() not in words:
        raise BadParameter(f"status {raw[:32]!r} is not one this offer knows")
    return words[raw.lower()]


def _fields(offer: Offer, params: Mapping[str, str]) -> Fields:
    txid = params.get("txid", "")
    if not TXID_RE.fullmatch(txid):
        raise BadParameter("txid is missing or not 1-128 printable characters")
    event = _word(params, "event", "", "event is missing or not 1-32 of a-z 0-9 _ . -")
    currency = params.get("currency", offer.currency)
    if not CURRENCY_RE.fullmatch(currency) or currency.upper() != offer.currency:
        raise BadParameter(f"currency must be {offer.currency} for this offer")
    try:
        amount_minor = to_minor(params.get("amount", "0") or "0", offer.currency, comma=False)
    except InvalidInput:
        raise BadParameter("amount must be a non-negative decimal like 12.50") from None
    status = _status(offer, params)
    converter: int | None = None
    if "tg_user_id" in params:
        converter = tg_id(params["tg_user_id"])
        if converter is None:
            raise BadParameter("tg_user_id must be a Telegram user id (digits)")
    reference = read_reference(params)
    if isinstance(reference, Answer):
        raise BadParameter(reference.reason or "", reference.refusal or Refusal.INVALID)
    return Fields(txid, event, amount_minor, status, converter, reference)


def read_fields(offer: Offer, params: Mapping[str, str]) -> Fields | Answer:
    """Every parameter of a postback read strictly (whole-string matches, ASCII digits, no
    surrounding whitespace), or the first one that is wrong, named."""
    try:
        return _fields(offer, params)
    except BadParameter as exc:
        return refused(exc.refusal, exc.reason)


CLICK_OF_POSTBACK = (
    "SELECT c.click_id, c.id, c.sub, c.is_bot, c.created_at, l.id AS link_id, l.affiliate_id, "
    "l.offer_id, a.is_banned FROM click c JOIN link l ON l.id = c.link_id "
    "JOIN affiliate a ON a.id = l.affiliate_id WHERE c.click_id "
)
Attribution = tuple[LinkRef, ClickRef | None, str | None]


async def read_clicks(click_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The clicks (with their link and affiliate) that postbacks name, by click id: one query
    for all the postbacks that arrived together (see GroupLookup)."""
    conn = connection()
    if is_postgres(conn):  # one statement text whatever the count: prepared once
        rows = await conn.execute_query_dict(
            CLICK_OF_POSTBACK + "= ANY($1::varchar[])", [click_ids]
        )
    else:
        marks = ", ".join("?" * len(click_ids))
        rows = await conn.execute_query_dict(f"{CLICK_OF_POSTBACK}IN ({marks})", click_ids)
    return {str(row["click_id"]): row for row in rows}


def of_click(offer: Offer, row: dict[str, Any] | None) -> Attribution | None:
    """A click's row as what a postback of `offer` is credited through; None if it is
    another offer's."""
    if row is None or row["offer_id"] != offer.id:
        return None
    link = LinkRef(
        id=row["link_id"], affiliate_id=row["affiliate_id"], banned=bool(row["is_banned"])
    )
    click = ClickRef(
        id=row["id"], is_bot=bool(row["is_bot"]), created_at=as_datetime(row["created_at"])
    )
    return link, click, row["sub"]


async def of_code(offer: Offer, reference: Reference) -> Attribution | None:
    """The link a postback names by its code (and label), if it is one of this offer's."""
    by_code = await Link.get_or_none(code=reference.code, offer_id=offer.id).select_related(
        "affiliate"
    )
    if by_code is None:
        return None
    link = LinkRef(
        id=by_code.id, affiliate_id=by_code.affiliate_id, banned=by_code.affiliate.is_banned
    )
    return link, None, reference.sub


class PostbackService:
    """One advertiser postback: checked, parsed, attributed, then recorded; every refusal
    names its reason."""

    def __init__(
        self,
        conversions: ConversionService,
        settle_clicks: Callable[[], Awaitable[bool]] | None = None,
        click_wait: float | None = None,
    ) -> None:
        self.conversions = conversions
        # Clicks reach the database up to a second after their redirect (the spool): a
        # postback naming a click not stored yet has the spool loaded first, then looks again.
        self.settle_clicks = settle_clicks
        # Read on every postback, changed rarely: dropped at once when this process changes
        # an offer (OfferService's on_change).
        self._offers: TtlCache[int, Offer | None] = TtlCache(CACHE_SECONDS, 10_000)
        # A storm of postbacks: one query for the clicks of those that arrived together (a
        # query each was about a third of a postback's CPU time, measured). Each waits for it
        # no longer than for a connection (`click_wait`): a frozen database answers them 503
        # as soon as a query of their own would have.
        self._clicks: GroupLookup[str, dict[str, Any]] = GroupLookup(read_clicks, wait=click_wait)

    def forget_offers(self) -> None:
        self._offers.clear()

    async def _offer(self, offer_id: int) -> Offer | None:
        found, offer = self._offers.get(offer_id)
        if not found:
            offer = await Offer.get_or_none(id=offer_id)
            self._offers.put(offer_id, offer)
        return offer

    async def postback(self, offer_id: int, params: Mapping[str, str], ip: str) -> Answer:
        offer = await self._offer(offer_id)
        if offer is None:
            return refused(Refusal.UNKNOWN, "unknown offer")
        problem = authenticate(offer, params, time.time())
        if problem is not None:
            return problem
        if offer.ip_allowlist and not ip_allowed(ip, offer.ip_allowlist):
            return refused(Refusal.FORBIDDEN, f"address {ip} is not allowed for this offer")
        claim = await self._claim(offer, params)
        if isinstance(claim, Answer):
            return claim
        if params.get("test") == "1":  # an integration check: everything but the storing
            return Answer(
                Verdict.TEST,
                status=claim.status,
                reason=f"valid: a {claim.event} for affiliate #{claim.link.affiliate_id} "
                f"would be stored as {claim.status.value}; nothing was stored (test=1)",
            )
        return await self.conversions.record(claim)

    async def attribute(self, offer: Offer, reference: Reference) -> Attribution | None:
        """The link (and click and label) a postback names, if it is one of this offer's."""
        if reference.click_id is not None:
            return of_click(offer, await self._clicks.get(reference.click_id))
        return await of_code(offer, reference)

    async def _claim(self, offer: Offer, params: Mapping[str, str]) -> Claim | Answer:
        fields = read_fields(offer, params)
        if isinstance(fields, Answer):
            return fields
        attributed = await self.attribute(offer, fields.reference)
        if attributed is None and fields.reference.click_id and self.settle_clicks is not None:
            await self.settle_clicks()
            attributed = await self.attribute(offer, fields.reference)
        if attributed is None:
            return refused(Refusal.UNKNOWN, "unknown click_id or code for this offer")
        link, click, sub = attributed
        if link.banned:
            return refused(Refusal.FORBIDDEN, "the affiliate of this click is banned")
        if fields.converter is not None and await Affiliate.exists(
            id=link.affiliate_id, tg_id=fields.converter
        ):
            return refused(Refusal.FORBIDDEN, "an affiliate cannot convert through their own link")
        return Claim(
            offer,
            link,
            click,
            sub,
            fields.txid,
            fields.event,
            fields.amount_minor,
            offer.currency,
            fields.status,
        )
