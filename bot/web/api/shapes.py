"""Service results as the API's JSON (webapp/openapi.json's schemas), texts in the user's
language. Every function here only reshapes: the numbers come from the services."""

from __future__ import annotations

import json
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
    shared: SharedCard | None = None,
) -> Json:
    """The card as `viewer` sees it. `shared`: what SharedCard made of the same race for the
    same locale, when many viewers' cards are made at once (a live board's tick)."""
    if shared is None:
        shared = SharedCard(card, participants, locale)
    top = shared.top
    if viewer.id in shared.in_top:
        top = [
            {**row, "me": True} if s.affiliate_id == viewer.id else row
            for s, row in zip(card.top, shared.top, strict=True)
        ]
    return {**shared.head(card.joined), "top": top, **_own(card, viewer, locale, shared)}


def race_card_text(card: RaceCard, viewer: Affiliate, locale: str, shared: SharedCard) -> str:
    """race_card() as compact JSON text, for a live board's many viewers: the parts every
    viewer shares are serialised once (SharedCard), only the viewer's own ones each time."""
    if viewer.id in shared.in_top:
        return dumps(race_card(card, viewer, shared.participants, locale, shared))
    return shared.head_text(card.joined) + dumps(_own(card, viewer, locale, shared))[1:]


def _own(card: RaceCard, viewer: Affiliate, locale: str, shared: SharedCard) -> Json:
    """The viewer's own part of a card: their place, gap, points and outcome."""
    race = card.race
    me = None
    if card.me is not None:
        me = {
            "rank": card.me.rank,
            "name": unescape(render.display_name(race, viewer)),
            "score": card.me.score,
            "score_text": shared.score_text(card.me.score),
            "me": True,
        }
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
            "score_text": shared.score_text(card.result.score),
            "prize": unescape(won) or None,
            "outcome": unescape(render.outcome_lines(race, card.result, locale)[0]),
        }
    return {
        "me": me,
        "gap": gap,
        "can_join": card.can_join,
        "joined": card.joined,
        "provisional": card.provisional,
        "provisional_text": shared.amount(card.provisional),
        "result": result,
    }


def dumps(value: Json) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class SharedCard:
    """What every viewer's card of one race holds alike in one locale: the race (as seen
    joined and not), the prizes, the participants and the top as seen by nobody in it, also
    as JSON text; and the score texts made so far (many viewers have the same score). Made
    and used within the locale's gettext context."""

    def __init__(self, card: RaceCard, participants: int, locale: str) -> None:
        race = card.race
        self.race = race
        self.locale = locale
        self.participants = participants
        self.prizes = [prize(race, p, locale) for p in card.prizes]
        self.top = [standing(race, s, card.names, 0, locale) for s in card.top]
        self.in_top = {s.affiliate_id for s in card.top}
        self._heads = {joined: self._head(joined) for joined in (False, True)}
        self._texts: dict[bool, str] = {}  # made when first asked: one card asks for none
        self._scores: dict[int, str] = {}
        self._amounts: dict[int, str] = {}

    def _head(self, joined: bool) -> Json:
        return {
            "race": race_summary(self.race, joined),
            "description": self.race.description,
            "prizes": self.prizes,
            "participants": self.participants,
        }

    def head(self, joined: bool) -> Json:
        return self._heads[joined]

    def head_text(self, joined: bool) -> str:
        """'{"race":…,"top":[…],': a viewer's own part follows without its opening brace."""
        text = self._texts.get(joined)
        if text is None:
            text = self._texts[joined] = dumps({**self._heads[joined], "top": self.top})[:-1] + ","
        return text

    def score_text(self, value: int) -> str:
        text = self._scores.get(value)
        if text is None:
            text = self._scores[value] = render.score_text(self.race, value, self.locale)
        return text

    def amount(self, value: int) -> str:
        text = self._amounts.get(value)
        if text is None:
            text = self._amounts[value] = render.amount(self.race, value, self.locale)
        return text


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
