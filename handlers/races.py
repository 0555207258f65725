"""Races for affiliates: the list, a race card, the leaderboard pages, and joining."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from aiogram import F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.render import (
    amount,
    board_lines,
    gap_text,
    metric_name,
    prize_lines,
    race_title,
    status_line,
)
from bot.services.races import TOP, RaceService
from handlers.common import show
from keyboards.callbacks import MenuAction, MenuCallback, RaceAction, RaceCallback
from keyboards.races import board_kb, race_card_kb, races_kb
from models import Affiliate, Race, RaceStatus

router = Router(name=__name__)


@router.callback_query(MenuCallback.filter(F.action == MenuAction.RACES))
@router.callback_query(RaceCallback.filter(F.action == RaceAction.LIST))
async def open_races(query: CallbackQuery, races: RaceService) -> None:
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
            lines.append(f"• {escape(race.title)} — {status_line(race, now)}")
            buttons.append((race.id, race.title))
        lines.append("")
    if not buttons:
        lines.append(_("No races yet. We will tell you when one starts."))
    await show(query, "\n".join(lines), races_kb(buttons))


async def card_text(race: Race, user: Affiliate, races: RaceService, locale: str) -> str:
    now = datetime.now(UTC)
    prizes = await races.prizes(race.id)
    lines = [race_title(race)]
    if race.description:
        lines.append(escape(race.description))
    lines += [
        "",
        status_line(race, now),
        _("Metric: {metric}").format(metric=metric_name(race.metric)),
    ]
    if race.min_score:
        lines.append(
            _("Minimum to qualify: {score}").format(score=amount(race, race.min_score, locale))
        )
    if prizes:
        lines += ["", _("<b>Prizes</b>"), *prize_lines(race, prizes, locale)]
    if race.status in (RaceStatus.RUNNING, RaceStatus.FINISHED):
        await races.ensure_board(race)
        entry = await races.entry(race.id, user.id)
        me = await races.rank(race, user.id)
        lines.append("")
        if me is None:
            if race.opt_in and entry is None:
                lines.append(_("Join to take part."))
            else:
                lines.append(_("You have not scored yet."))
        else:
            lines.append(
                _("You: #{rank} with {score}").format(
                    rank=me.rank, score=amount(race, me.score, locale)
                )
            )
            if entry is not None and entry.provisional:
                lines.append(
                    _("+{points} provisional (pending approval)").format(
                        points=amount(race, entry.provisional, locale)
                    )
                )
            if me.rank > 1:
                above = await races.top(race, me.rank - 2, 1)
                if above:
                    gap = above[0].score - me.score + 1
                    lines.append(gap_text(race, gap, me.rank - 1, locale))
        top = await races.top(race, 0, TOP)
        names = await races.names([s.affiliate_id for s in top])
        lines += [
            "",
            _("<b>Top {count}</b>").format(count=TOP),
            *board_lines(race, top, names, locale, viewer_id=user.id),
        ]
    return "\n".join(lines)


@router.callback_query(RaceCallback.filter(F.action == RaceAction.SHOW))
async def open_race(
    query: CallbackQuery,
    callback_data: RaceCallback,
    user: Affiliate,
    races: RaceService,
    i18n: I18n,
) -> None:
    race = await races.get(callback_data.race_id)
    entry = await races.entry(race.id, user.id)
    can_join = (
        race.opt_in and entry is None and race.status in (RaceStatus.SCHEDULED, RaceStatus.RUNNING)
    )
    text = await card_text(race, user, races, i18n.current_locale)
    await show(query, text, race_card_kb(race.id, can_join))


@router.callback_query(RaceCallback.filter(F.action == RaceAction.JOIN))
async def join_race(
    query: CallbackQuery,
    callback_data: RaceCallback,
    user: Affiliate,
    races: RaceService,
    i18n: I18n,
) -> None:
    race = await races.get(callback_data.race_id)
    await races.join(race.id, user.id)  # Conflict (race over) -> errors router
    text = _("✅ You're in!") + "\n\n" + await card_text(race, user, races, i18n.current_locale)
    await show(query, text, race_card_kb(race.id, can_join=False))


@router.callback_query(RaceCallback.filter(F.action == RaceAction.BOARD))
async def open_board(
    query: CallbackQuery,
    callback_data: RaceCallback,
    user: Affiliate,
    races: RaceService,
    i18n: I18n,
) -> None:
    race = await races.get(callback_data.race_id)
    await races.ensure_board(race)
    page = max(callback_data.page, 0)
    rows = await races.top(race, page * TOP, TOP + 1)
    leader = await races.top(race, 0, 1)
    names = await races.names([s.affiliate_id for s in rows[:TOP]])
    lines = [race_title(race), _("Leaderboard, page {page}").format(page=page + 1), ""]
    lines += board_lines(
        race,
        rows[:TOP],
        names,
        i18n.current_locale,
        viewer_id=user.id,
        leader=leader[0].score if leader else None,
    )
    me = await races.rank(race, user.id)
    if me is not None and not any(s.affiliate_id == user.id for s in rows[:TOP]):
        lines += [
            "",
            _("You: #{rank} with {score}").format(
                rank=me.rank, score=amount(race, me.score, i18n.current_locale)
            ),
        ]
    await show(query, "\n".join(lines), board_kb(race.id, page, len(rows) > TOP))
