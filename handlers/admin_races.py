"""Admins make races in a guided dialog (Back and Cancel at every step, preview, Confirm) and
list, edit, cancel or end them with commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.errors import N_, InvalidInput
from bot.filters import IsAdmin
from bot.render import metric_name, prize_lines, status_line
from bot.services.affiliates import AffiliateService
from bot.services.inputs import ascii_int
from bot.services.offers import OfferService, check_chat_id, check_title
from bot.services.race_input import parse_prizes, parse_score, parse_when, zone
from bot.services.races import RaceChange, RaceDraft, RaceService, check_draft
from bot.services.races.drafts import check_description, check_end, check_start
from handlers.common import leading_id
from keyboards.callbacks import RaceFormAction, RaceFormCallback
from keyboards.races import confirm_kb, form_kb
from models import Affiliate, RaceMetric, RacePrize, TieBreak

router = Router(name=__name__)
router.message.filter(IsAdmin())
router.callback_query.filter(IsAdmin())


class RaceForm(StatesGroup):
    filling = State()


@dataclass(frozen=True)
class Step:
    name: str
    skippable: bool = False
    default: Any = None


STEPS = [
    Step("title"),
    Step("description", skippable=True, default=""),
    Step("metric"),
    Step("offer", skippable=True, default=None),
    Step("starts_at"),
    Step("ends_at"),
    Step("prizes", skippable=True, default=[]),
    Step("min_score", skippable=True, default=0),
    Step("opt_in"),
    Step("tie_break"),
    Step("mask_names"),
    Step("announce", skippable=True, default=None),
]


def yes_no() -> list[tuple[str, str]]:
    return [("1", _("Yes")), ("0", _("No"))]


async def prompt(
    step: Step, data: dict[str, Any], offers: OfferService
) -> tuple[str, InlineKeyboardMarkup]:
    number = _("Step {n} of {total}").format(n=STEPS.index(step) + 1, total=len(STEPS))
    choices: list[tuple[str, str]] = []
    texts = {
        "title": _("The race's title (up to 128 characters):"),
        "description": _("A short description (up to 1024 characters), or Skip:"),
        "metric": _("What counts?"),
        "offer": _("Only one offer? Pick it, or Skip for all offers:"),
        "starts_at": _(
            "When does it start? e.g. now, +1h, or 2026-12-24 18:00 (your time zone: {zone}; "
            "you may add UTC, +03:00 or Europe/Moscow)"
        ).format(zone=data.get("tz", "UTC")),
        "ends_at": _("When does it end? e.g. +7d (from the start) or 2026-12-31 23:59"),
        "prizes": _(
            "Prizes, one per place: 1=100 iPhone; 2=50; 3=Hoodie (amounts in {currency}), or Skip:"
        ).format(currency=data.get("currency", "USD")),
        "min_score": _("The minimum score to win a prize, or Skip for none:"),
        "opt_in": _("Must affiliates join (opt-in)? No means everyone takes part."),
        "tie_break": _("On equal scores: who got there first wins, or the prize is split?"),
        "mask_names": _("Hide names on the leaderboard (Al***)?"),
        "announce": _(
            "A channel for the live leaderboard and results (the bot must be an admin there): "
            "its id like -1001234567890, or Skip:"
        ),
    }
    if step.name == "metric":
        choices = [(m.value, metric_name(m)) for m in RaceMetric]
    elif step.name == "offer":
        choices = [(str(o.id), o.title[:30]) for o in await offers.list() if o.is_active][:10]
    elif step.name in {"opt_in", "mask_names"}:
        choices = yes_no()
    elif step.name == "tie_break":
        choices = [(TieBreak.FIRST.value, _("First to reach")), (TieBreak.SPLIT.value, _("Split"))]
    text = f"<b>{_('New race')}</b> · {number}\n\n{texts[step.name]}"
    return text, form_kb(choices, can_skip=step.skippable, can_back=STEPS.index(step) > 0)


async def accept(step: Step, raw: str, data: dict[str, Any], offers: OfferService) -> Any:
    """The value of one step, or InvalidInput saying what is wrong (the step stays)."""
    now = datetime.now(UTC)
    tz = data.get("tz", "UTC")
    if step.name == "title":
        return check_title(raw)
    if step.name == "description":
        return check_description(raw)
    if step.name == "metric":
        if raw not in {m.value for m in RaceMetric}:
            raise InvalidInput(N_("Pick one of the buttons."))
        return raw
    if step.name == "offer":
        offer_id = ascii_int(raw)
        if offer_id is None:
            raise InvalidInput(N_("Pick one of the buttons."))
        offer = await offers.get(offer_id)
        data["currency"] = offer.currency
        return offer.id
    if step.name == "starts_at":
        when = parse_when(raw, now, tz)
        check_start(when, now)
        return when.isoformat()
    if step.name == "ends_at":
        start = datetime.fromisoformat(data["starts_at"])
        when = parse_when(raw, now, tz, base=start)
        check_end(start, when, now)
        return when.isoformat()
    if step.name == "prizes":
        return parse_prizes(raw, data.get("currency", "USD"))
    if step.name == "min_score":
        money = RaceMetric(data["metric"]).is_money if data.get("metric") else False
        return parse_score(raw, money, data.get("currency", "USD"))
    if step.name in {"opt_in", "mask_names"}:
        if raw not in {"0", "1"}:
            raise InvalidInput(N_("Pick one of the buttons."))
        return raw == "1"
    if step.name == "tie_break":
        if raw not in {t.value for t in TieBreak}:
            raise InvalidInput(N_("Pick one of the buttons."))
        return raw
    if step.name == "announce":
        return check_chat_id(raw)
    raise AssertionError(step.name)


def draft_of(data: dict[str, Any]) -> RaceDraft:
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


def preview(draft: RaceDraft, locale: str) -> str:
    from models import Race

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
        _("Offer: {offer}").format(offer=f"#{draft.offer_id}" if draft.offer_id else _("all")),
        _("From {start} to {end} UTC").format(
            start=draft.starts_at.strftime("%Y-%m-%d %H:%M"),
            end=draft.ends_at.strftime("%Y-%m-%d %H:%M"),
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


async def show_step(
    target: Message | CallbackQuery, state: FSMContext, offers: OfferService, locale: str
) -> None:
    data = await state.get_data()
    index = data.get("step", 0)
    if index >= len(STEPS):
        draft = draft_of(data)
        check_draft(draft, datetime.now(UTC))
        text, markup = preview(draft, locale), confirm_kb()
    else:
        text, markup = await prompt(STEPS[index], data, offers)
    if isinstance(target, CallbackQuery):
        if isinstance(target.message, Message):
            await target.message.answer(text, reply_markup=markup)
        await target.answer()
    else:
        await target.answer(text, reply_markup=markup)


async def advance(
    target: Message | CallbackQuery,
    state: FSMContext,
    raw: str | None,
    offers: OfferService,
    locale: str,
) -> None:
    data = await state.get_data()
    index = data.get("step", 0)
    if index >= len(STEPS):
        raise InvalidInput(N_("Use the buttons under the preview."))
    step = STEPS[index]
    value = step.default if raw is None else await accept(step, raw, data, offers)
    data[step.name] = value
    data["step"] = index + 1
    if index + 1 == len(STEPS):
        try:
            check_draft(draft_of(data), datetime.now(UTC))
        except InvalidInput:
            data["step"] = index
            raise
    await state.set_data(data)
    await show_step(target, state, offers, locale)


@router.message(Command("race_new"))
async def cmd_race_new(
    message: Message, state: FSMContext, user: Affiliate, offers: OfferService, i18n: I18n
) -> None:
    await state.set_state(RaceForm.filling)
    await state.set_data({"step": 0, "tz": user.timezone, "currency": "USD"})
    await show_step(message, state, offers, i18n.current_locale)


@router.message(RaceForm.filling, F.text)
async def race_form_text(
    message: Message, state: FSMContext, offers: OfferService, i18n: I18n
) -> None:
    await advance(message, state, message.text or "", offers, i18n.current_locale)


@router.callback_query(RaceForm.filling, RaceFormCallback.filter(F.action == RaceFormAction.PICK))
async def race_form_pick(
    query: CallbackQuery,
    callback_data: RaceFormCallback,
    state: FSMContext,
    offers: OfferService,
    i18n: I18n,
) -> None:
    await advance(query, state, callback_data.value, offers, i18n.current_locale)


@router.callback_query(RaceForm.filling, RaceFormCallback.filter(F.action == RaceFormAction.SKIP))
async def race_form_skip(
    query: CallbackQuery, state: FSMContext, offers: OfferService, i18n: I18n
) -> None:
    data = await state.get_data()
    index = data.get("step", 0)
    if index >= len(STEPS) or not STEPS[index].skippable:
        raise InvalidInput(N_("This step cannot be skipped."))
    await advance(query, state, None, offers, i18n.current_locale)


@router.callback_query(RaceForm.filling, RaceFormCallback.filter(F.action == RaceFormAction.BACK))
async def race_form_back(
    query: CallbackQuery, state: FSMContext, offers: OfferService, i18n: I18n
) -> None:
    data = await state.get_data()
    data["step"] = max(min(data.get("step", 0), len(STEPS)) - 1, 0)
    await state.set_data(data)
    await show_step(query, state, offers, i18n.current_locale)


@router.callback_query(RaceFormCallback.filter(F.action == RaceFormAction.CANCEL))
async def race_form_cancel(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    if isinstance(query.message, Message):
        await query.message.answer(_("Race creation cancelled. Nothing was saved."))
    await query.answer()


@router.callback_query(
    RaceForm.filling, RaceFormCallback.filter(F.action == RaceFormAction.CONFIRM)
)
async def race_form_confirm(
    query: CallbackQuery, state: FSMContext, races: RaceService, user: Affiliate
) -> None:
    data = await state.get_data()
    if data.get("step", 0) < len(STEPS):
        raise InvalidInput(N_("This button is out of date."))
    race = await races.create(draft_of(data), created_by=user.tg_id)
    await state.clear()
    if isinstance(query.message, Message):
        await query.message.answer(
            _("✅ Race #{id} «{title}» is scheduled.").format(id=race.id, title=escape(race.title))
        )
    await query.answer()


@router.callback_query(RaceFormCallback.filter())
async def race_form_stale(query: CallbackQuery) -> None:
    await query.answer(_("This button is out of date."), show_alert=True)


@router.message(Command("races"))
async def cmd_races(message: Message, races: RaceService) -> None:
    items = await races.all_races()
    if not items:
        await message.answer(_("No races yet. Create one with /race_new."))
        return
    now = datetime.now(UTC)
    await message.answer(
        "\n".join(
            f"#{r.id} <b>{escape(r.title)}</b> · {metric_name(r.metric)} · {status_line(r, now)}"
            for r in items
        )
    )


def race_id_of(command: CommandObject) -> tuple[int, str]:
    return leading_id(command, N_("Give the race's number, e.g. /{command} 3"))


@router.message(Command("race_cancel"))
async def cmd_race_cancel(message: Message, command: CommandObject, races: RaceService) -> None:
    race_id, _rest = race_id_of(command)
    race = await races.cancel(race_id)
    await message.answer(_("Race #{id} cancelled.").format(id=race.id))


@router.message(Command("race_end"))
async def cmd_race_end(message: Message, command: CommandObject, races: RaceService) -> None:
    race_id, _rest = race_id_of(command)
    placings = await races.finish_now(race_id)
    await message.answer(
        _("Race #{id} ended: {count} prize winners. Results are on their way.").format(
            id=race_id, count=len(placings)
        )
    )


@router.message(Command("race_edit"))
async def cmd_race_edit(
    message: Message, command: CommandObject, races: RaceService, user: Affiliate
) -> None:
    race_id, rest = race_id_of(command)
    name, _sep, raw = rest.partition(" ")
    now = datetime.now(UTC)
    race = await races.get(race_id)
    fields: dict[str, tuple[str, Any]] = {
        "title": ("title", check_title),
        "description": ("description", check_description),
        "start": ("starts_at", lambda v: parse_when(v, now, user.timezone)),
        "end": ("ends_at", lambda v: parse_when(v, now, user.timezone, base=race.starts_at)),
        "min": ("min_score", lambda v: parse_score(v, race.metric.is_money, race.currency)),
        "optin": ("opt_in", lambda v: v.strip().lower() in {"1", "yes", "on"}),
        "mask": ("mask_names", lambda v: v.strip().lower() in {"1", "yes", "on"}),
        "tiebreak": ("tie_break", lambda v: TieBreak(v.strip().lower())),
        "channel": ("announce_chat_id", check_chat_id),
    }
    if name.lower() == "prizes":
        await races.set_prizes(race_id, parse_prizes(raw, race.currency))
        await message.answer(_("✅ Prizes saved."))
        return
    if name.lower() not in fields or not raw.strip():
        raise InvalidInput(
            N_(
                "Usage: /race_edit ID FIELD VALUE; fields: title, description, start, end, min, "
                "optin, mask, tiebreak, channel, prizes"
            )
        )
    field_name, parse = fields[name.lower()]
    try:
        value = parse(raw)
    except ValueError:
        raise InvalidInput(N_("That value does not fit this field.")) from None
    await races.edit(race_id, RaceChange(**{field_name: value}))
    await message.answer(_("✅ Race #{id} updated.").format(id=race_id))


@router.message(Command("timezone"))
async def cmd_timezone(
    message: Message, command: CommandObject, user: Affiliate, affiliates: AffiliateService
) -> None:
    name = (command.args or "").strip()
    if not name:
        await message.answer(
            _("Your time zone is {zone}. Change it with /timezone Europe/Moscow").format(
                zone=user.timezone
            )
        )
        return
    zone(name)  # InvalidInput when unknown
    await affiliates.set_timezone(user, name[:64])
    await message.answer(_("✅ Time zone set to {zone}.").format(zone=escape(name[:64])))
