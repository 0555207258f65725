"""The Mini App's API views: JSON in → a typed service call → JSON out. Rules live in the
services (the chat calls the same ones); refusals become JSON in auth.api_guard."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import N_, Conflict, InvalidInput, NotFound
from bot.services.balance import DETAILS_MAX
from bot.services.codes import LABEL_MAX
from bot.services.inputs import ascii_int
from bot.services.links import MAX_SUBLINKS
from bot.services.qr import qr_png
from bot.services.stats import Period
from bot.telegram.render import viewer_zone
from bot.web.api import shapes
from bot.web.api.auth import AUTH, LOCALE, USER
from bot.web.api.deps import API, ApiDeps
from handlers.common import share_url
from models import Affiliate, RaceEntry, RaceStatus

MAX_API_BODY = 16 * 1024
MAX_ID = 2**31 - 1
MAX_PAGE = 10_000
CARD_PERIODS = (Period.TODAY, Period.WEEK, Period.MONTH)
M = TypeVar("M", bound=BaseModel)


class SublinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    label: str = Field(min_length=1, max_length=LABEL_MAX)


class PayoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    details: str = Field(min_length=1, max_length=DETAILS_MAX)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str = Field("", max_length=512)


def _ctx(request: web.Request) -> tuple[ApiDeps, Affiliate, str]:
    return request.app[API], request[USER], request[LOCALE]


def path_id(request: web.Request, name: str) -> int:
    value = ascii_int(request.match_info[name])
    if value is None or value < 1:
        raise InvalidInput(N_("{name} must be a positive whole number."), name=name)
    if value > MAX_ID:
        raise NotFound()
    return value


async def read_json(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    """The body as `model`: 413 when too large, 400 saying what is wrong otherwise."""
    if request.content_length is not None and request.content_length > MAX_API_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_API_BODY, request.content_length)
    raw = await request.read()
    if len(raw) > MAX_API_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_API_BODY, len(raw))
    if not raw and optional:
        return model()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput(N_("The request body must be a JSON object.")) from None
    if not isinstance(body, dict):
        raise InvalidInput(N_("The request body must be a JSON object."))
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(
            N_("The request is not valid: {field}: {problem}."), field=where, problem=first["msg"]
        ) from None


def created(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=201)


# -- the session -----------------------------------------------------------------------------


async def open_session(request: web.Request) -> web.Response:
    deps, user, locale = _ctx(request)
    auth = request[AUTH]
    outcome = await deps.referrals.register_start(user, auth.start_param)
    if outcome.referrer_id is not None:
        deps.notifier.referral_credited(outcome.referrer_id)
    referral = "credited" if outcome.referrer_id is not None else None
    if outcome.refused is not None:
        referral = outcome.refused.value
    return web.json_response(
        {
            "user": {
                "tg_id": user.tg_id,
                "name": user.display_name,
                "username": user.username,
                "language": locale,
                "time_zone": user.timezone,
                "is_admin": deps.desk.is_admin(user),
            },
            # Telegram says whether the bot may write to them; if not, the app asks.
            "can_message": bool(auth.user.allows_write_to_pm),
            "first_start": outcome.first_start,
            "referral": referral,
            "bot_username": deps.urls.bot_username,
        }
    )


# -- the dashboard ---------------------------------------------------------------------------


def _period(request: web.Request) -> Period:
    raw = request.query.get("period", Period.WEEK.value)
    try:
        return Period(raw)
    except ValueError:
        raise InvalidInput(N_("period must be one of today, 7d, 30d or all.")) from None


async def dashboard(request: web.Request) -> web.Response:
    deps, user, locale = _ctx(request)
    period = _period(request)
    zone = viewer_zone(user.timezone)
    currencies = await deps.stats.currencies(user.id)
    currency = currencies[0] if currencies else "USD"
    cards = {}
    for p in CARD_PERIODS:
        report = await deps.stats.report(user.id, p, zone)
        cards[p.value] = shapes.numbers(report.total, currency, locale)
    buckets = await deps.stats.buckets(user.id, period, zone)
    return web.json_response(
        {
            "period": period.value,
            "cards": cards,
            "chart": shapes.chart(buckets, period is Period.TODAY, currency, locale, zone),
        }
    )


# -- links -----------------------------------------------------------------------------------


async def links(request: web.Request) -> web.Response:
    deps, user, _locale = _ctx(request)
    views = [await deps.links.base_link(user), *await deps.links.offer_links(user)]
    items = []
    for view in views:
        url = await share_url(view, deps.urls, deps.bot, deps.channels)
        counts = await deps.links.counts(user, view.link_id)
        items.append(shapes.link(view, url, counts, deps.urls))
    return web.json_response(
        {
            "links": items,
            "sublinks": await deps.links.sublinks(user),
            "max_sublinks": MAX_SUBLINKS,
        }
    )


async def link_qr(request: web.Request) -> web.Response:
    deps, user, _locale = _ctx(request)
    link_id = path_id(request, "link_id")
    view = await deps.links.own_link(user, link_id)
    sub = request.query.get("sub") or None
    if sub is not None and (
        len(sub) > LABEL_MAX or not await deps.links.has_sublink(user.id, sub)
    ):
        raise NotFound(N_("That sub-link does not exist any more."))
    url = await share_url(view, deps.urls, deps.bot, deps.channels)
    if url is None:
        raise Conflict(
            N_("The invite link is not ready: the bot must be an admin of the channel.")
        )
    if sub is not None:
        url = deps.urls.for_link(view.code, view.kind, sub)
    png = await qr_png(url)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "private"})


async def add_sublink(request: web.Request) -> web.Response:
    deps, user, _locale = _ctx(request)
    body = await read_json(request, SublinkIn)
    await deps.links.add_sublink(user, body.label)
    return created({"sublinks": await deps.links.sublinks(user)})


async def remove_sublink(request: web.Request) -> web.Response:
    deps, user, _locale = _ctx(request)
    label = request.match_info["label"]
    if len(label) > LABEL_MAX or not await deps.links.has_sublink(user.id, label):
        raise NotFound(N_("That sub-link does not exist any more."))
    await deps.links.remove_sublink(user, label)
    return web.json_response({"sublinks": await deps.links.sublinks(user)})


# -- races -----------------------------------------------------------------------------------


async def races(request: web.Request) -> web.Response:
    deps, user, _locale = _ctx(request)
    listing = await deps.races.listing()
    shown = [
        race
        for status in (RaceStatus.RUNNING, RaceStatus.SCHEDULED, RaceStatus.FINISHED)
        for race in listing.get(status, [])
    ]
    joined = set(
        await RaceEntry.filter(
            affiliate_id=user.id, race_id__in=[r.id for r in shown]
        ).values_list("race_id", flat=True)
    )
    return web.json_response({"races": [shapes.race_summary(r, r.id in joined) for r in shown]})


async def race_card_json(
    deps: ApiDeps, race_id: int, user: Affiliate, locale: str
) -> dict[str, Any]:
    """The race as `user` sees it now (also what the WebSocket sends)."""
    card = await deps.races.card(race_id, user.id)
    if card.race.status not in (RaceStatus.SCHEDULED, RaceStatus.RUNNING, RaceStatus.FINISHED):
        raise NotFound(N_("There is no race #{id}."), id=race_id)
    participants = await deps.races.board.participants(card.race) if card.ranked else 0
    return shapes.race_card(card, user, participants, locale)


async def race_card_texts(
    deps: ApiDeps, race_id: int, viewers: Sequence[tuple[Affiliate, str]]
) -> list[str]:
    """The race as each of `viewers` (user, locale) sees it, as JSON text, built together (a
    live board's tick): one card each, in their order. What they share is read once and
    serialised once per locale; only each viewer's own part is made for them."""
    cards = await deps.races.cards(race_id, [user.id for user, _ in viewers])
    race = next(iter(cards.values())).race
    if race.status not in (RaceStatus.SCHEDULED, RaceStatus.RUNNING, RaceStatus.FINISHED):
        raise NotFound(N_("There is no race #{id}."), id=race_id)
    ranked = race.status in (RaceStatus.RUNNING, RaceStatus.FINISHED)
    participants = await deps.races.board.participants(race) if ranked else 0
    texts = [""] * len(viewers)
    for locale in sorted({locale for _, locale in viewers}):  # one locale's cards together
        with deps.i18n.context(), deps.i18n.use_locale(locale):
            shared = None
            for i, (user, theirs) in enumerate(viewers):
                if theirs != locale:
                    continue
                card = cards[user.id]
                shared = shared or shapes.SharedCard(card, participants, locale)
                texts[i] = shapes.race_card_text(card, user, locale, shared)
    return texts


async def race(request: web.Request) -> web.Response:
    deps, user, locale = _ctx(request)
    return web.json_response(await race_card_json(deps, path_id(request, "race_id"), user, locale))


async def join_race(request: web.Request) -> web.Response:
    deps, user, locale = _ctx(request)
    race_id = path_id(request, "race_id")
    found = await deps.races.get(race_id)
    if found.status not in (RaceStatus.SCHEDULED, RaceStatus.RUNNING, RaceStatus.FINISHED):
        raise NotFound(N_("There is no race #{id}."), id=race_id)
    if not found.opt_in:
        raise Conflict(N_("Everyone takes part in this race: there is nothing to join."))
    await deps.races.join(race_id, user.id)
    return web.json_response(await race_card_json(deps, race_id, user, locale))


# -- balance ---------------------------------------------------------------------------------


async def balance(request: web.Request) -> web.Response:
    deps, user, locale = _ctx(request)
    rows = await deps.balance.balances(user.id)
    open_request = await deps.balance.open_request(user.id)
    body = []
    for b in rows:
        minimum = deps.balance.minimum_minor(b.currency)
        payable = open_request is None and b.available_minor >= minimum
        body.append(shapes.balance_row(b, minimum, payable, locale))
    pending = None
    if open_request is not None:
        pending = shapes.payout(deps.balance.view_of(open_request, user), locale)
    return web.json_response({"balances": body, "open_request": pending})


async def history(request: web.Request) -> web.Response:
    deps, user, locale = _ctx(request)
    raw = request.query.get("page", "0")
    page = ascii_int(raw)
    if page is None or page > MAX_PAGE:
        raise InvalidInput(N_("page must be a whole number from 0 to 10000."))
    items, more = await deps.balance.history(user.id, page)
    return web.json_response(
        {"items": [shapes.history_item(i, locale) for i in items], "has_more": more}
    )


async def request_payout(request: web.Request) -> web.Response:
    deps, user, locale = _ctx(request)
    body = await read_json(request, PayoutIn)
    payout = await deps.balance.request_payout(user, body.currency, body.details)
    await deps.notifier.payout_requested(payout, deps.settings.ADMIN_IDS)
    return created(shapes.payout(payout, locale))


# -- admin -----------------------------------------------------------------------------------


def admin_only(request: web.Request) -> tuple[ApiDeps, Affiliate, str]:
    """To anyone but an admin the admin API does not exist."""
    deps, user, locale = _ctx(request)
    if not deps.desk.is_admin(user):
        raise NotFound()
    return deps, user, locale


async def admin_overview(request: web.Request) -> web.Response:
    deps, _user, locale = admin_only(request)
    currencies = await deps.stats.currencies(None)
    currency = currencies[0] if currencies else "USD"
    totals = {}
    for p in CARD_PERIODS:
        report = await deps.stats.report(None, p)
        totals[p.value] = shapes.numbers(report.total, currency, locale)
    queue = []
    for asked in await deps.balance.open_requests():
        held = {
            b.currency: b.available_minor for b in await deps.balance.balances(asked.affiliate_id)
        }
        queue.append(
            {
                **shapes.payout(asked, locale),
                "person": shapes.person(asked),
                "balance": shapes.money(held.get(asked.currency, 0), asked.currency, locale),
                "requested_at": shapes.iso(asked.requested_at) if asked.requested_at else None,
            }
        )
    return web.json_response(
        {"totals": totals, "postbacks_today": await deps.tally.today(), "payouts": queue}
    )


async def decide_payout(request: web.Request, approve: bool) -> web.Response:
    deps, admin, locale = admin_only(request)
    payout_id = path_id(request, "payout_id")
    note = "" if approve else (await read_json(request, RejectIn, optional=True)).reason
    payout = await deps.desk.decide_payout(admin, payout_id, approve, note)
    await deps.notifier.payout_decided(payout)
    return web.json_response(shapes.payout(payout, locale))


async def approve_payout(request: web.Request) -> web.Response:
    return await decide_payout(request, approve=True)


async def reject_payout(request: web.Request) -> web.Response:
    return await decide_payout(request, approve=False)


def setup(app: web.Application) -> None:
    add = app.router
    add.add_post("/api/session", open_session)
    add.add_get("/api/dashboard", dashboard, allow_head=False)
    add.add_get("/api/links", links, allow_head=False)
    add.add_get("/api/links/{link_id}/qr", link_qr, allow_head=False)
    add.add_post("/api/sublinks", add_sublink)
    add.add_delete("/api/sublinks/{label}", remove_sublink)
    add.add_get("/api/races", races, allow_head=False)
    add.add_get("/api/races/{race_id}", race, allow_head=False)
    add.add_post("/api/races/{race_id}/join", join_race)
    add.add_get("/api/balance", balance, allow_head=False)
    add.add_get("/api/history", history, allow_head=False)
    add.add_post("/api/payouts", request_payout)
    add.add_get("/api/admin/overview", admin_overview, allow_head=False)
    add.add_post("/api/admin/payouts/{payout_id}/approve", approve_payout)
    add.add_post("/api/admin/payouts/{payout_id}/reject", reject_payout)
