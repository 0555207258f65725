"""/offer_new and the panel's ➕ New offer: an offer made step by step (kind, title, currency,
payout, where the link leads), with a preview and Confirm; Back and Cancel at every step."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.errors import N_, InvalidInput
from bot.services.amounts import check_currency, format_money, to_minor
from bot.services.audit import Actor, offer_state
from bot.services.offers import (
    OfferDraft,
    check_chat_id,
    check_kind,
    check_target_url,
    check_title,
)
from handlers.forms import Data, Deps, Form, Step
from models import Affiliate, OfferKind

CURRENCIES = ("USD", "EUR", "RUB")


def kind_names() -> dict[str, str]:
    return {
        OfferKind.URL.value: _("🌐 A website (url)"),
        OfferKind.BOT.value: _("🤖 This bot (bot)"),
        OfferKind.APP.value: _("📱 The Mini App (app)"),
        OfferKind.CHANNEL.value: _("📣 A channel (channel)"),
    }


async def kinds(data: Data, deps: Deps) -> list[tuple[str, str]]:
    return list(kind_names().items())


async def currencies(data: Data, deps: Deps) -> list[tuple[str, str]]:
    return [(c, c) for c in CURRENCIES]


async def read_kind(raw: str, data: Data, deps: Deps) -> str:
    return check_kind(raw).value


async def read_title(raw: str, data: Data, deps: Deps) -> str:
    return check_title(raw)


async def read_currency(raw: str, data: Data, deps: Deps) -> str:
    return check_currency(raw)


async def read_payout(raw: str, data: Data, deps: Deps) -> int:
    return to_minor(raw, data.get("currency", "USD"))


async def read_target(raw: str, data: Data, deps: Deps) -> str:
    kind = OfferKind(data["kind"])
    if kind is OfferKind.URL:
        return check_target_url(raw)
    if kind is OfferKind.CHANNEL:
        return str(check_chat_id(raw))
    raise InvalidInput(N_("A bot or app offer leads into this bot: skip this step."))


def target_question(data: Data) -> str:
    kind = data.get("kind")
    if kind == OfferKind.URL.value:
        return _(
            "The advertiser's URL the link sends visitors to. Macros: {click_id}, {sub}, "
            "{affiliate_id}, {offer_id}, {link_code}"
        )
    if kind == OfferKind.CHANNEL.value:
        return _("The channel's id, like -1001234567890 (the bot must be an admin there):")
    return _("A bot or app offer leads into this bot: nothing to give, tap Skip.")


def draft_of(data: Data) -> OfferDraft:
    kind = OfferKind(data["kind"])
    target = data.get("target")
    if kind is OfferKind.URL and not target:
        raise InvalidInput(N_("A website offer needs the advertiser's URL: go Back to give it."))
    if kind is OfferKind.CHANNEL and not target:
        raise InvalidInput(N_("A channel offer needs the channel's id: go Back to give it."))
    return OfferDraft(
        data["title"],
        kind,
        data["payout"],
        data["currency"],
        target if kind is OfferKind.URL else None,
        int(target) if kind is OfferKind.CHANNEL and target else None,
    )


async def preview(data: Data, deps: Deps) -> str:
    draft = draft_of(data)
    lines = [
        _("<b>New offer</b>: check it, then Create."),
        "",
        f"<b>{escape(draft.title)}</b> · {kind_names()[draft.kind.value]}",
        _("Pays {amount} per conversion").format(
            amount=format_money(draft.payout_minor, draft.currency)
        ),
    ]
    if draft.target_url:
        lines.append(f"<code>{escape(draft.target_url)}</code>")
    if draft.channel_id:
        lines.append(_("Channel {id}").format(id=draft.channel_id))
    return "\n".join(lines)


async def finish(data: Data, deps: Deps) -> str:
    offer = await deps["offers"].create(draft_of(data))
    user: Affiliate = deps["user"]
    await deps["desk"].audit.record(
        Actor.of(user), "offer.create", f"offer #{offer.id}", None, offer_state(offer)
    )
    return _("✅ Offer #{id} «{title}» is live: affiliates get its link now.").format(
        id=offer.id, title=escape(offer.title)
    )


OFFER_FORM = Form(
    key="offer",
    title=lambda: _("New offer"),
    steps=[
        Step("kind", lambda d: _("What does the affiliate's link lead to?"), read_kind, kinds),
        Step("title", lambda d: _("The offer's title (up to 128 characters):"), read_title),
        Step(
            "currency",
            lambda d: _("Its currency (or type another ISO code):"),
            read_currency,
            currencies,
        ),
        Step(
            "payout", lambda d: _("What a conversion pays the affiliate, e.g. 2.50:"), read_payout
        ),
        Step("target", target_question, read_target, skippable=True),
    ],
    preview=preview,
    finish=finish,
    confirm_label=lambda: _("✅ Create the offer"),
    cancelled=lambda: _("Offer creation cancelled. Nothing was saved."),
)


async def begin(message: Message, state: FSMContext, user: Affiliate, **deps: Any) -> None:
    await OFFER_FORM.begin(message, state, {}, {**deps, "user": user})
