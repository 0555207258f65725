"""The admin's chat: the panel (/admin), affiliates, offers, money (reviews, payouts, rates,
adjustments) and races. The parent
router lets admins in, once for messages and buttons alike; to anyone else these commands do
not exist (their updates fall through to the other routers)."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.filters import IsAdmin
from handlers.admin import (
    broadcast,
    confirm,
    export,
    money,
    offers,
    panel,
    people,
    postbacks,
    programme,
    races,
    sections,
)


def router() -> Router:
    """Admins only: /admin and the routers of each area."""
    r = Router(name=__name__)
    r.message.filter(IsAdmin())
    r.callback_query.filter(IsAdmin())
    r.include_routers(
        panel.router(),
        people.router(),
        postbacks.router(),
        sections.router(),
        programme.router(),
        broadcast.router(),
        export.router(),
        offers.router(),
        money.router(),
        races.router(),
    )
    r.include_router(
        confirm.router(
            {
                "race_end": races.cmd_race_end,
                "race_cancel": races.cmd_race_cancel,
                "payout_no": money.cmd_payout_decide,
                "review_no": money.cmd_review,
                "offer_secret": offers.cmd_offer_postback,
                "adjust": money.cmd_adjust,
            }
        )
    )
    return r
