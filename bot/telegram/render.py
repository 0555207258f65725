"""How races look in Telegram: leaderboards, cards, news. Texts go through gettext."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from html import escape

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from babel.dates import format_datetime

from bot.errors import N_, InvalidInput
from bot.services.amounts import format_money
from bot.services.balance import HistoryItem
from bot.services.races import FinalResult, Standing
from bot.services.zones import zone
from models import Affiliate, LedgerKind, Race, RaceMetric, RacePrize, RaceStatus

MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}
BAR = 8


def metric_name(metric: RaceMetric) -> str:
    return {
        RaceMetric.CLICKS: _("clicks"),
        RaceMetric.REFERRALS: _("referrals"),
        RaceMetric.CONVERSIONS: _("conversions"),
        RaceMetric.REVENUE: _("revenue"),
        RaceMetric.COMMISSION: _("commission"),
        RaceMetric.JOINS: _("channel joins"),
    }[metric]


def amount(race: Race, value: int, locale: str) -> str:
    """A score in the race's unit: money for revenue and commission, a count otherwise."""
    if race.metric.is_money:
        return format_money(value, race.currency, locale)
    return str(value)


def gap_text(race: Race, gap: int, place: int, locale: str) -> str:
    """ "2 conversions to pass #3"."""
    if race.metric.is_money:
        return _("{amount} to pass #{place}").format(
            amount=format_money(gap, race.currency, locale), place=place
        )
    # only the race's own form is translated: a live board makes 10,000 of these a tick
    forms: dict[RaceMetric, Callable[[], str]] = {
        RaceMetric.CLICKS: lambda: ngettext(
            "{n} click to pass #{place}", "{n} clicks to pass #{place}", gap
        ),
        RaceMetric.REFERRALS: lambda: ngettext(
            "{n} referral to pass #{place}", "{n} referrals to pass #{place}", gap
        ),
        RaceMetric.CONVERSIONS: lambda: ngettext(
            "{n} conversion to pass #{place}", "{n} conversions to pass #{place}", gap
        ),
        RaceMetric.JOINS: lambda: ngettext(
            "{n} join to pass #{place}", "{n} joins to pass #{place}", gap
        ),
    }
    return forms[race.metric]().format(n=gap, place=place)


def countdown(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("{d} d {h} h").format(d=days, h=hours)
    if hours:
        return _("{h} h {m} min").format(h=hours, m=minutes)
    return _("{m} min").format(m=minutes)


# Why the core holds a conversion (its own words, stored in English), as admins read them.
REVIEW_REASONS = {
    "too soon after the click": N_("too soon after the click"),
    "click from a bot": N_("the click came from a bot"),
}


def review_reason(why: str) -> str:
    known = REVIEW_REASONS.get(why)
    return _(known) if known else escape(why)


def person(name: str, username: str | None, tg_id: int) -> str:
    """Someone as an admin needs to see them: "Alice (@alice, id 2001)"."""
    handle = f"@{username}, " if username and name != f"@{username}" else ""
    return f"{escape(name)} ({escape(handle)}id {tg_id})"


def display_name(race: Race, affiliate: Affiliate | None) -> str:
    if affiliate is None:
        return "—"
    name = affiliate.display_name
    if race.mask_names:
        name = name[:2] + "***"
    return escape(name)


def bar(score: int, leader: int) -> str:
    filled = round(BAR * score / leader) if leader > 0 else 0
    return "▰" * filled + "▱" * (BAR - filled)


def board_lines(
    race: Race,
    standings: Sequence[Standing],
    names: dict[int, Affiliate],
    locale: str,
    viewer_id: int | None = None,
    leader: int | None = None,
) -> list[str]:
    if not standings:
        return [_("Nobody has scored yet. Be the first!")]
    top = leader if leader is not None else standings[0].score
    lines = []
    for s in standings:
        mark = "👉 " if s.affiliate_id == viewer_id else ""
        medal = MEDALS.get(s.rank, f"#{s.rank}")
        lines.append(
            f"{mark}{medal} {display_name(race, names.get(s.affiliate_id))} — "
            f"<b>{amount(race, s.score, locale)}</b> {bar(s.score, top)}"
        )
    return lines


def prize_lines(race: Race, prizes: Sequence[RacePrize], locale: str) -> list[str]:
    lines = []
    for p in prizes:
        parts = []
        if p.amount_minor:
            parts.append(format_money(p.amount_minor, race.currency, locale))
        if p.text:
            parts.append(escape(p.text))
        lines.append(f"{MEDALS.get(p.place, f'#{p.place}')} {' + '.join(parts)}")
    return lines


def ledger_what(item: HistoryItem, quote: Callable[[str], str] = escape) -> str:
    """What a ledger row was for: "earning · Shop", "prize · Winter race, #1", "payout #4 — note".
    `quote` makes people's words (titles, notes) safe for where the text goes."""
    kinds = {
        LedgerKind.EARNING: _("earning"),
        LedgerKind.REVERSAL: _("reversal"),
        LedgerKind.REFERRAL_SHARE: _("referral share"),
        LedgerKind.PAYOUT: _("payout"),
        LedgerKind.PAYOUT_RETURN: _("payout returned"),
        LedgerKind.ADJUSTMENT: _("adjustment"),
        LedgerKind.PRIZE: _("prize"),
    }
    what = kinds.get(item.kind, item.kind.value)
    if item.payout_id is not None:
        what += f" #{item.payout_id}"
    if item.offer_title:
        what += f" · {quote(item.offer_title)}"
    if item.race_title:
        what += " · " + (
            _("{race}, #{place}").format(race=quote(item.race_title), place=item.place)
            if item.place
            else quote(item.race_title)
        )
    return what + (f" — {quote(item.note)}" if item.note else "")


def local_time(moment: datetime, zone_name: str = "UTC", locale: str = "en") -> str:
    """A moment in the viewer's zone, as their language writes it: "24 Dec, 18:00"."""
    return format_datetime(moment, "d MMM, HH:mm", tzinfo=viewer_zone(zone_name), locale=locale)


def viewer_zone(name: str) -> tzinfo:
    """The viewer's zone; UTC if what is stored is no longer a zone this machine knows."""
    try:
        return zone(name)
    except InvalidInput:
        return UTC


def status_line(race: Race, now: datetime, zone_name: str = "UTC", locale: str = "en") -> str:
    """Where the race stands, its start or end in the viewer's zone beside the countdown."""
    if race.status is RaceStatus.SCHEDULED:
        return _("⏳ Starts {when} (in {left})").format(
            when=local_time(race.starts_at, zone_name, locale),
            left=countdown(race.starts_at - now),
        )
    if race.status is RaceStatus.RUNNING:
        return _("🏃 Running, ends {when} (in {left})").format(
            when=local_time(race.ends_at, zone_name, locale), left=countdown(race.ends_at - now)
        )
    if race.status is RaceStatus.FINISHED:
        return _("🏁 Finished {when}").format(when=local_time(race.ends_at, zone_name, locale))
    return _("✖️ Cancelled")


def race_title(race: Race) -> str:
    return f"🏁 <b>{escape(race.title)}</b>"


def news_text(race: Race, kind: str, rank: int) -> str:
    title = escape(race.title)
    texts = {
        "entered_zone": _("🏆 You are in the prize places of «{title}»: #{rank}!"),
        "left_zone": _("😬 You dropped out of the prize places of «{title}»: now #{rank}."),
        "overtaken": _("⚠️ You were overtaken in «{title}»: now #{rank}."),
        "best_rank": _("🚀 New best in «{title}»: #{rank}!"),
    }
    return texts[kind].format(title=title, rank=rank)


def reminder_text(race: Race, label: str, standing: Standing | None, locale: str) -> str:
    title = escape(race.title)
    head = (
        _("⏰ «{title}» ends in 24 hours.")
        if label == "24h"
        else _("⏰ «{title}» ends in 1 hour.")
    ).format(title=title)
    if standing is None:
        return head + " " + _("You have not scored yet: there is still time!")
    return (
        head
        + " "
        + _("You are #{rank} with {score}.").format(
            rank=standing.rank, score=amount(race, standing.score, locale)
        )
    )


def score_text(race: Race, value: int, locale: str) -> str:
    """A score with its unit: "$12.50", "1 conversion", "3 referrals"."""
    if race.metric.is_money:
        return format_money(value, race.currency, locale)
    forms = {
        RaceMetric.CLICKS: ngettext("{n} click", "{n} clicks", value),
        RaceMetric.REFERRALS: ngettext("{n} referral", "{n} referrals", value),
        RaceMetric.CONVERSIONS: ngettext("{n} conversion", "{n} conversions", value),
        RaceMetric.JOINS: ngettext("{n} join", "{n} joins", value),
    }
    return forms[race.metric].format(n=value)


def prize_text(race: Race, minor: int, text: str, locale: str) -> str:
    """What a place wins: money, words, or both ("$50.00 + Hoodie"); "" for nothing."""
    parts = []
    if minor:
        parts.append(format_money(minor, race.currency, locale))
    if text:
        parts.append(escape(text))
    return " + ".join(parts)


def outcome_lines(race: Race, result: FinalResult, locale: str) -> list[str]:
    """What the viewer won, or why nothing: the prize, the minimum not reached, or no prize."""
    won = prize_text(race, result.prize_minor, result.prize_text, locale)
    if won:
        return [_("🎁 Your prize: {prize}. Money prizes are on your balance.").format(prize=won)]
    if race.min_score and result.score < race.min_score:
        return [
            _("The minimum of {minimum} was not reached, so there is no prize.").format(
                minimum=score_text(race, race.min_score, locale)
            )
        ]
    return [_("No prize this time.")]


def result_text(race: Race, result: FinalResult, locale: str) -> str:
    """The final notice: place, score with its unit, and what was won."""
    head = _("🏁 «{title}» is over. Your final place: #{place} with {score}.").format(
        title=escape(race.title), place=result.place, score=score_text(race, result.score, locale)
    )
    return "\n".join([head, *outcome_lines(race, result, locale)])
