"""Service results as the API's JSON (webapp/openapi.json's schemas), texts in the user's
language. Every function here only reshapes: the numbers come from the services."""

from __future__ import annotations

from datetime import UTC, datetime
from html import unescape
from typing import Any

from aiogram.utils.i18n import gettext as _
from babel.dates import format_date, format_time

from bot.services.amounts import format_money, format_percent, from_minor
from bot.services.balance import Balance, HistoryItem, Payout
from bot.services.links import LinkUrls, LinkView, SubCounts
from bot.services.races import RaceCard, Standing
from bot.services.stats import Bucket, Row
from bot.telegram import render
from models import Affiliate, Race, RacePrize

Json = dict[str, Any]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def money(minor: int, currency: str, locale: str) -> Json:
    return {
        "currency": currency,
        "amount": str(from_minor(minor, currency)),
        "text": format_money(minor, currency, locale),
    }


def numbers(row: Row, currency: str, locale: str) -> Json:
    earnings = row.earnings or {currency: 0}
    epc = row.epc(currency)
    rate = row.conversion_rate
    return {
        "clicks": row.clicks,
        "unique_clicks": row.unique_clicks,
        "referrals": row.referrals,
        "conversions": row.conversions,
        "earnings": [money(m, c, locale) for c, m in sorted(earnings.items())],
        "epc": money(epc, currency, locale) if epc is not None else None,
        "conversion_rate": format_percent(rate, locale) if rate is not None else None,
    }


def chart(buckets: list[Bucket], hourly: bool, currency: str, locale: str, zone: Any) -> Json:
    def label(at: datetime) -> str:
        local = at.astimezone(zone)
        if hourly:
            return format_time(local, "HH:mm", locale=locale)
        return format_date(local, "d MMM", locale=locale)

    return {
        "unit": "hour" if hourly else "day",
        "currency": currency,
        "points": [
            {
                "start": iso(b.start),
                "label": label(b.start),
                "conversions": b.conversions,
                "earnings": str(from_minor(b.earnings_minor, currency)),
            }
            for b in buckets
        ],
    }


def link(view: LinkView, url: str | None, counts: list[SubCounts], urls: LinkUrls) -> Json:
    subs = counts[:1] if view.kind is not None and view.kind.value == "channel" else counts
    return {
        "link_id": view.link_id,
        "code": view.code,
        "title": view.title or _("My bot link"),
        "kind": view.kind.value if view.kind is not None else "own",
        "url": url,
        "subs": [
            {
                "label": c.label,
                "url": (urls.for_link(view.code, view.kind, c.label) if c.label else url) or "",
                "clicks": c.clicks,
                "unique_clicks": c.unique_clicks,
                "referrals": c.referrals,
            }
            for c in subs
        ],
    }


def race_summary(race: Race, joined: bool) -> Json:
    return {
        "id": race.id,
        "title": race.title,
        "status": race.status.value,
        "starts_at": iso(race.starts_at),
        "ends_at": iso(race.ends_at),
        "metric": render.metric_name(race.metric),
        "opt_in": race.opt_in,
        "joined": joined,
    }


def standing(
    race: Race, s: Standing, people: dict[int, Affiliate], viewer: int, locale: str
) -> Json:
    return {
        "rank": s.rank,
        "name": unescape(render.display_name(race, people.get(s.affiliate_id))),
        "score": s.score,
        "score_text": render.score_text(race, s.score, locale),
        "me": s.affiliate_id == viewer,
    }


def prize(race: Race, p: RacePrize, locale: str) -> Json:
    return {
        "place": p.place,
        "text": unescape(render.prize_text(race, p.amount_minor, p.text, locale)),
    }


def race_card(
    card: RaceCard,
    viewer: Affiliate,
    participants: int,
    locale: str,
    shared: dict[str, Any] | None = None,
) -> Json:
    """The card as `viewer` sees it. `shared`: what race_card_shared() made of the same race
    for the same locale, when many viewers' cards are made at once (a live board's tick)."""
    race = card.race
    if shared is None:
        shared = race_card_shared(card, locale)
    me = None
    if card.me is not None:
        me = standing(race, card.me, {viewer.id: viewer}, viewer.id, locale)
    gap = None
    if card.gap is not None:
        gap = {
            "points": card.gap.points,
            "place": card.gap.place,
            "text": render.gap_text(race, card.gap.points, card.gap.place, locale),
        }
    result = None
    if card.result is not None:
        won = render.prize_text(race, card.result.prize_minor, card.result.prize_text, locale)
        result = {
            "place": card.result.place,
            "score_text": render.score_text(race, card.result.score, locale),
            "prize": unescape(won) or None,
            "outcome": unescape(render.outcome_lines(race, card.result, locale)[0]),
        }
    top = [
        {**row, "me": True} if s.affiliate_id == viewer.id else row
        for s, row in zip(card.top, shared["top"], strict=True)
    ]
    return {
        "race": race_summary(race, card.joined),
        "description": race.description,
        "prizes": shared["prizes"],
        "participants": participants,
        "me": me,
        "gap": gap,
        "top": top,
        "can_join": card.can_join,
        "joined": card.joined,
        "provisional": card.provisional,
        "provisional_text": render.amount(race, card.provisional, locale),
        "result": result,
    }


def race_card_shared(card: RaceCard, locale: str) -> dict[str, Any]:
    """What every viewer's card of one race holds alike in one locale: the prizes and the top
    (as seen by nobody in it; race_card() marks the viewer's own row)."""
    race = card.race
    return {
        "prizes": [prize(race, p, locale) for p in card.prizes],
        "top": [standing(race, s, card.names, 0, locale) for s in card.top],
    }


def balance_row(b: Balance, minimum: int, payable: bool, locale: str) -> Json:
    return {
        "currency": b.currency,
        "available": money(b.available_minor, b.currency, locale),
        "pending": money(b.pending_minor, b.currency, locale),
        "minimum": money(minimum, b.currency, locale),
        "can_request": payable,
    }


def payout(p: Payout, locale: str) -> Json:
    return {
        "id": p.id,
        "amount": money(p.amount_minor, p.currency, locale),
        "status": p.status.value,
        "details": p.details,
        "note": p.note,
    }


def person(p: Payout) -> str:
    return unescape(render.person(p.affiliate_name, p.affiliate_username, p.affiliate_tg_id))


def history_item(item: HistoryItem, locale: str) -> Json:
    return {
        "kind": item.kind.value,
        "amount": money(item.amount_minor, item.currency, locale),
        "at": iso(item.created_at),
        "text": render.ledger_what(item, quote=str),
    }
