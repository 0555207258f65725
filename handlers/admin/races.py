"""Admins make races in a guided dialog (a form: Back and Cancel at every step, a preview,
Confirm) and list, edit, cancel or end them with commands."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.errors import N_, Conflict, InvalidInput
from bot.live import RaceFeed
from bot.services.admin_desk import AdminDesk
from bot.services.audit import Actor
from bot.services.inputs import ascii_int
from bot.services.offers import OfferService, check_title
from bot.services.races import RaceDraft, RaceService, check_draft
from bot.services.races.drafts import check_description, check_end, check_start
from bot.telegram.render import local_time, metric_name, prize_lines, status_line
from handlers.admin.confirm import ask
from handlers.admin.parsing import (
    check_channel,
    leading_id,
    parse_prizes,
    parse_race_edit,
    parse_score,
    parse_when,
)
from handlers.forms import Data, Deps, Form, Step
from models import Affiliate, Race, RaceMetric, RacePrize, RaceStatus, TieBreak

Choices = Sequence[tuple[str, str]]


def yes_no() -> list[tuple[str, str]]:
    return [("1", _("Yes")), ("0", _("No"))]


async def pick(raw: str, allowed: set[str]) -> str:
    if raw not in allowed:
        raise InvalidInput(N_("Pick one of the buttons."))
    return raw


# -- the steps --------------------------------------------------------------------------------


async def read_title(raw: str, data: Data, deps: Deps) -> str:
    return check_title(raw)


async def read_description(raw: str, data: Data, deps: Deps) -> str:
    return check_description(raw)


async def read_metric(raw: str, data: Data, deps: Deps) -> str:
    return await pick(raw, {m.value for m in RaceMetric})


async def metrics(data: Data, deps: Deps) -> Choices:
    return [(m.value, metric_name(m)) for m in RaceMetric]


async def read_offer(raw: str, data: Data, deps: Deps) -> int:
    offer_id = ascii_int(raw)
    if offer_id is None:
        raise InvalidInput(N_("Pick one of the buttons."))
    offer = await deps["offers"].get(offer_id)
    data["currency"] = offer.currency
    return int(offer.id)


async def active_offers(data: Data, deps: Deps) -> Choices:
    offers: OfferService = deps["offers"]
    return [(str(o.id), o.title[:30]) for o in await offers.list() if o.is_active][:10]


async def read_start(raw: str, data: Data, deps: Deps) -> str:
    now = datetime.now(UTC)
    when = parse_when(raw, now, data.get("tz", "UTC"))
    check_start(when, now)
    return when.isoformat()


async def read_end(raw: str, data: Data, deps: Deps) -> str:
    now = datetime.now(UTC)
    start = datetime.fromisoformat(data["starts_at"])
    when = parse_when(raw, now, data.get("tz", "UTC"), base=start)
    check_end(start, when, now)
    return when.isoformat()


async def read_prizes(raw: str, data: Data, deps: Deps) -> list[tuple[int, str, int]]:
    return parse_prizes(raw, data.get("currency", "USD"))


async def read_min_score(raw: str, data: Data, deps: Deps) -> int:
    money = RaceMetric(data["metric"]).is_money if data.get("metric") else False
    return parse_score(raw, money, data.get("currency", "USD"))


async def read_yes(raw: str, data: Data, deps: Deps) -> bool:
    return await pick(raw, {"0", "1"}) == "1"


async def yes_or_no(data: Data, deps: Deps) -> Choices:
    return yes_no()


async def read_tie_break(raw: str, data: Data, deps: Deps) -> str:
    return await pick(raw, {t.value for t in TieBreak})


async def tie_breaks(data: Data, deps: Deps) -> Choices:
    return [(TieBreak.FIRST.value, _("First to reach")), (TieBreak.SPLIT.value, _("Split"))]


async def read_channel(raw: str, data: Data, deps: Deps) -> int:
    return check_channel(raw)


STEPS = [
    Step("title", lambda d: _("The race's title (up to 128 characters):"), read_title),
    Step(
        "description",
        lambda d: _("A short description (up to 1024 characters), or Skip:"),
        read_description,
        skippable=True,
        default="",
    ),
    Step("metric", lambda d: _("What counts?"), read_metric, metrics),
    Step(
        "offer",
        lambda d: _("Only one offer? Pick it, or Skip for all offers:"),
        read_offer,
        active_offers,
        skippable=True,
    ),
    Step(
        "starts_at",
        lambda d: _(
            "When does it start? e.g. now, +1h, or 2026-12-24 18:00 (your time zone: {zone}; "
            "you may add UTC, +03:00 or Europe/Moscow)"
        ).format(zone=d.get("tz", "UTC")),
        read_start,
    ),
    Step(
        "ends_at",
        lambda d: _("When does it end? e.g. +7d (from the start) or 2026-12-31 23:59"),
        read_end,
    ),
    Step(
        "prizes",
        lambda d: _(
            "Prizes, one per place: 1=100 iPhone; 2=50; 3=Hoodie (amounts in {currency}), or Skip:"
        ).format(currency=d.get("currency", "USD")),
        read_prizes,
        skippable=True,
        default=[],
    ),
    Step(
        "min_score",
        lambda d: _("The minimum score to win a prize, or Skip for none:"),
        read_min_score,
        skippable=True,
        default=0,
    ),
    Step(
        "opt_in",
        lambda d: _("Must affiliates join (opt-in)? No means everyone takes part."),
        read_yes,
        yes_or_no,
    ),
    Step(
        "tie_break",
        lambda d: _("On equal scores: who got there first wins, or the prize is split?"),
        read_tie_break,
        tie_breaks,
    ),
    Step("mask_names", lambda d: _("Hide names on the leaderboard (Al***)?"), read_yes, yes_or_no),
    Step(
        "announce",
        lambda d: _(
            "A channel for the live leaderboard and results (the bot must be an admin there): "
            "its id like -1001234567890, or Skip:"
        ),
        read_channel,
        skippable=True,
    ),
]


def draft_of(data: Data) -> RaceDraft:
    return RaceDraft(
        title=data["title"],
        description=data.get("description", ""),
        metric=RaceMetric(data["metric"]),
        offer_id=data.get("offer"),
        starts_at=datetime.fromisoformat(data["starts_at"]),
        ends_at=datetime.fromisoformat(data["ends_at"]),
        prizes=[(int(p[0]), str(p[1]), int(p[2])) for p in data.get("prizes", [])],
        min_score=data.get("min_score", 0),
        opt_in=data.get("opt_in", False),
        tie_break=TieBreak(data.get("tie_break", "first")),
        mask_names=data.get("mask_names", False),
        currency=data.get("currency", "USD"),
        announce_chat_id=data.get("announce"),
    )


def preview_text(
    draft: RaceDraft, locale: str, offer_title: str | None = None, zone_name: str = "UTC"
) -> str:
    race = Race(
        title=draft.title,
        metric=draft.metric,
        currency=draft.currency,
        starts_at=draft.starts_at,
        ends_at=draft.ends_at,
    )
    prizes = [RacePrize(place=p, text=t, amount_minor=a) for p, t, a in draft.prizes]
    lines = [
        f"<b>{_('Preview')}</b>",
        "",
        f"🏁 <b>{escape(draft.title)}</b>",
        escape(draft.description) if draft.description else "",
        _("Metric: {metric}").format(metric=metric_name(draft.metric)),
        _("Offer: {offer}").format(
            offer=f"{escape(offer_title or '')} (#{draft.offer_id})"
            if draft.offer_id
            else _("all")
        ),
        _("From {start} to {end} ({zone})").format(
            start=local_time(draft.starts_at, zone_name, locale),
            end=local_time(draft.ends_at, zone_name, locale),
            zone=escape(zone_name),
        )
        + (
            "\n"
            + _("= {start} to {end} UTC").format(
                start=draft.starts_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                end=draft.ends_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            )
            if zone_name != "UTC"
            else ""
        ),
        _("Opt-in: {yes}").format(yes=_("Yes") if draft.opt_in else _("No")),
        _("Tie-break: {rule}").format(
            rule=_("first to reach") if draft.tie_break is TieBreak.FIRST else _("split")
        ),
        _("Minimum score: {score}").format(score=draft.min_score),
        _("Names hidden: {yes}").format(yes=_("Yes") if draft.mask_names else _("No")),
        _("Channel: {chat}").format(chat=draft.announce_chat_id or "—"),
        "",
        _("<b>Prizes</b>"),
        *(prize_lines(race, prizes, locale) or ["—"]),
    ]
    return "\n".join(lines)


async def preview(data: Data, deps: Deps) -> str:
    draft = draft_of(data)
    check_draft(draft, datetime.now(UTC))
    title = (await deps["offers"].get(draft.offer_id)).title if draft.offer_id else None
    user: Affiliate = deps["user"]
    return preview_text(draft, deps["i18n"].current_locale, title, user.timezone)


async def finish(data: Data, deps: Deps) -> str:
    races: RaceService = deps["races"]
    user: Affiliate = deps["user"]
    race = await races.create(draft_of(data), created_by=user.tg_id)
    await deps["desk"].audit.record(
        Actor.of(user),
        "race.create",
        f"race #{race.id}",
        None,
        {
            "title": race.title,
            "metric": race.metric.value,
            "starts_at": race.starts_at,
            "ends_at": race.ends_at,
        },
    )
    if race.status is RaceStatus.RUNNING:
        return _("✅ Race #{id} «{title}» has started.").format(
            id=race.id, title=escape(race.title)
        )
    return _("✅ Race #{id} «{title}» is scheduled.").format(id=race.id, title=escape(race.title))


RACE_FORM = Form(
    key="race",
    title=lambda: _("New race"),
    steps=STEPS,
    preview=preview,
    finish=finish,
    confirm_label=lambda: _("✅ Create the race"),
    cancelled=lambda: _("Race creation cancelled. Nothing was saved."),
)


# -- commands ---------------------------------------------------------------------------------


async def cmd_race_new(message: Message, state: FSMContext, user: Affiliate, **deps: Any) -> None:
    await RACE_FORM.begin(
        message, state, {"tz": user.timezone, "currency": "USD"}, {**deps, "user": user}
    )


async def cmd_races(message: Message, races: RaceService, user: Affiliate, i18n: I18n) -> None:
    items = await races.all_races()
    if not items:
        await message.answer(_("No races yet. Create one with /race_new."))
        return
    now = datetime.now(UTC)
    await message.answer(
        "\n".join(
            f"#{r.id} <b>{escape(r.title)}</b> · {metric_name(r.metric)} · "
            f"{status_line(r, now, user.timezone, i18n.current_locale)}"
            for r in items
        )
    )


def race_id_of(command: CommandObject) -> tuple[int, str]:
    return leading_id(command, N_("Give the race's number, e.g. /{command} 3"))


async def cmd_race_cancel(
    message: Message,
    command: CommandObject,
    races: RaceService,
    state: FSMContext,
    feed: RaceFeed,
    desk: AdminDesk,
    user: Affiliate,
    confirmed: bool = False,
) -> None:
    race_id, _rest = race_id_of(command)
    race = await races.get(race_id)
    if race.status not in (RaceStatus.DRAFT, RaceStatus.SCHEDULED, RaceStatus.RUNNING):
        raise Conflict(N_("Race #{id} is already over."), id=race.id)
    if not confirmed:
        question = _(
            "Cancel race #{id} «{title}»? Nobody wins anything, and a cancelled race cannot be "
            "started again."
        ).format(id=race.id, title=escape(race.title))
        await ask(message, state, command, question, _("🗑 Yes, cancel it"))
        return
    before = race.status.value
    race = await races.cancel(race_id)
    await desk.audit.record(
        Actor.of(user),
        "race.cancel",
        f"race #{race.id}",
        {"status": before},
        {"status": "cancelled"},
    )
    await feed.publish(race.id)  # live boards close with the news
    await message.answer(_("Race #{id} cancelled.").format(id=race.id))


async def cmd_race_end(
    message: Message,
    command: CommandObject,
    races: RaceService,
    state: FSMContext,
    feed: RaceFeed,
    desk: AdminDesk,
    user: Affiliate,
    confirmed: bool = False,
) -> None:
    race_id, _rest = race_id_of(command)
    race = await races.finishable(race_id)
    if not confirmed:
        question = _(
            "End race #{id} «{title}» now? The standings freeze, prizes are credited and "
            "everyone is told their place. This cannot be undone."
        ).format(id=race.id, title=escape(race.title))
        await ask(message, state, command, question, _("🏁 Yes, end it"))
        return
    placings = await races.finish_now(race_id)
    await desk.audit.record(
        Actor.of(user),
        "race.end",
        f"race #{race_id}",
        {"status": "running"},
        {"status": "finished", "prize_winners": len(placings)},
    )
    await feed.publish(race_id)  # live boards show the final places at once
    await message.answer(
        _("Race #{id} ended: {count} prize winners. Results are on their way.").format(
            id=race_id, count=len(placings)
        )
    )


async def cmd_race_edit(
    message: Message, command: CommandObject, races: RaceService, user: Affiliate, desk: AdminDesk
) -> None:
    race_id, rest = race_id_of(command)
    name, _sep, raw = rest.partition(" ")
    race = await races.get(race_id)
    audit = (Actor.of(user), "race.edit", f"race #{race_id}")
    if name.lower() == "prizes":
        await races.set_prizes(race_id, parse_prizes(raw, race.currency))
        await desk.audit.record(*audit, None, {"prizes": raw})
        await message.answer(_("✅ Prizes saved."))
        return
    change = parse_race_edit(name, raw, race, user.timezone, datetime.now(UTC))
    await races.edit(race_id, change)
    await desk.audit.record(*audit, None, {name.lower(): raw})
    await message.answer(_("✅ Race #{id} updated.").format(id=race_id))


def router() -> Router:
    """The race commands and the race dialog (the parent router lets admins in)."""
    r = Router(name=__name__)
    r.message.register(cmd_race_new, Command("race_new"))
    r.include_router(RACE_FORM.router())
    r.message.register(cmd_races, Command("races"))
    r.message.register(cmd_race_cancel, Command("race_cancel"))
    r.message.register(cmd_race_end, Command("race_end"))
    r.message.register(cmd_race_edit, Command("race_edit"))
    return r
