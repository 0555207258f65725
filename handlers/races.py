"""Races for affiliates: the list, a race card, the leaderboard pages, and joining."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from aiogram import F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.services.races import TOP, RaceCard, RaceService
from bot.telegram.render import (
    amount,
    board_lines,
    gap_text,
    metric_name,
    outcome_lines,
    prize_lines,
    race_title,
    score_text,
    status_line,
)
from handlers.common import show
from keyboards.callbacks import MenuAction, MenuCallback, RaceAction, RaceCallback
from keyboards.races import board_kb, race_card_kb, races_kb
from models import Affiliate, RaceStatus


async def open_races(
    query: CallbackQuery, races: RaceService, user: Affiliate, i18n: I18n
) -> None:
    listing = await races.listing()
    now = datetime.now(UTC)
    buttons = []
    lines = [_("🏁 <b>Races</b>"), ""]
    for status, head in (
        (RaceStatus.RUNNING, _("Running")),
        (RaceStatus.SCHEDULED, _("Upcoming")),
        (RaceStatus.FINISHED, _("Finished")),
    ):
        items = listing.get(status, [])
        if not items:
            continue
        lines.append(f"<b>{head}</b>")
        for race in items:
            where = status_line(race, now, user.timezone, i18n.current_locale)
            lines.append(f"• {escape(race.title)} — {where}")
            buttons.append((race.id, race.title))
        lines.append("")
    if not buttons:
        lines.append(_("No races yet. We will tell you when one starts."))
    await show(query, "\n".join(lines), races_kb(buttons))


def card_text(card: RaceCard, viewer_id: int, locale: str, zone_name: str = "UTC") -> str:
    race = card.race
    lines = [race_title(race)]
    if race.description:
        lines.append(escape(race.description))
    lines += [
        "",
        status_line(race, datetime.now(UTC), zone_name, locale),
        _("Metric: {metric}").format(metric=metric_name(race.metric)),
    ]
    if race.min_score:
        lines.append(
            _("Minimum to qualify: {score}").format(score=amount(race, race.min_score, locale))
        )
    if card.prizes:
        lines += ["", _("<b>Prizes</b>"), *prize_lines(race, card.prizes, locale)]
    if not card.ranked:
        return "\n".join(lines)
    lines.append("")
    if race.status is RaceStatus.FINISHED:
        lines += final_lines(card, locale)
    elif card.me is None:
        if race.opt_in and not card.joined:
            lines.append(_("Join to take part."))
        else:
            lines.append(_("You have not scored yet."))
    else:
        lines.append(
            _("You: #{rank} with {score}").format(
                rank=card.me.rank, score=amount(race, card.me.score, locale)
            )
        )
        if card.provisional:
            lines.append(
                _("+{points} provisional (pending approval)").format(
                    points=amount(race, card.provisional, locale)
                )
            )
        if card.gap is not None:
            lines.append(gap_text(race, card.gap.points, card.gap.place, locale))
    lines += [
        "",
        _("<b>Top {count}</b>").format(count=TOP),
        *board_lines(race, card.top, card.names, locale, viewer_id=viewer_id),
    ]
    return "\n".join(lines)


def final_lines(card: RaceCard, locale: str) -> list[str]:
    """A finished race: the viewer's final place and what they won (no gap to close)."""
    if card.result is None:
        return [_("You did not take part in this race.")]
    race = card.race
    return [
        _("Your final place: #{place} with {score}.").format(
            place=card.result.place, score=score_text(race, card.result.score, locale)
        ),
        *outcome_lines(race, card.result, locale),
    ]


async def open_race(
    query: CallbackQuery,
    callback_data: RaceCallback,
    user: Affiliate,
    races: RaceService,
    i18n: I18n,
) -> None:
    card = await races.card(callback_data.race_id, user.id)
    text = card_text(card, user.id, i18n.current_locale, user.timezone)
    await show(query, text, race_card_kb(card.race.id, card.can_join))


async def join_race(
    query: CallbackQuery,
    callback_data: RaceCallback,
    user: Affiliate,
    races: RaceService,
    i18n: I18n,
) -> None:
    await races.join(callback_data.race_id, user.id)  # Conflict (race over) -> errors router
    card = await races.card(callback_data.race_id, user.id)
    text = (
        _("✅ You're in!") + "\n\n" + card_text(card, user.id, i18n.current_locale, user.timezone)
    )
    await show(query, text, race_card_kb(card.race.id, can_join=False))


async def open_board(
    query: CallbackQuery,
    callback_data: RaceCallback,
    user: Affiliate,
    races: RaceService,
    i18n: I18n,
) -> None:
    page = await races.board_page(callback_data.race_id, user.id, callback_data.page)
    locale = i18n.current_locale
    race = page.race
    lines = [race_title(race), _("Leaderboard, page {page}").format(page=page.page + 1), ""]
    lines += board_lines(
        race, page.rows, page.names, locale, viewer_id=user.id, leader=page.leader
    )
    if page.me is not None:
        lines += [
            "",
            _("You: #{rank} with {score}").format(
                rank=page.me.rank, score=amount(race, page.me.score, locale)
            ),
        ]
    await show(query, "\n".join(lines), board_kb(race.id, page.page, page.has_more))


def router() -> Router:
    """This feature's router, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.callback_query.register(open_races, RaceCallback.filter(F.action == RaceAction.LIST))
    r.callback_query.register(open_races, MenuCallback.filter(F.action == MenuAction.RACES))
    r.callback_query.register(open_race, RaceCallback.filter(F.action == RaceAction.SHOW))
    r.callback_query.register(join_race, RaceCallback.filter(F.action == RaceAction.JOIN))
    r.callback_query.register(open_board, RaceCallback.filter(F.action == RaceAction.BOARD))
    return r
