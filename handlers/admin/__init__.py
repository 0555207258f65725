"""The admin's chat: offers, money (reviews, payouts, rates, adjustments) and races. The parent
router lets admins in, once for messages and buttons alike; to anyone else these commands do
not exist (their updates fall through to the other routers)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.filters import IsAdmin
from handlers.admin import confirm, money, offers, races


async def cmd_admin(message: Message) -> None:
    await message.answer(
        _(
            "<b>Admin commands</b>\n\n"
            "/offers: list every offer\n"
            "/offer_add KIND AMOUNT CURRENCY [URL] TITLE: create an offer "
            "(KIND is url, bot, app or channel; URL only for url, the channel id -100… "
            "for channel)\n"
            "/offer_edit ID FIELD VALUE: change title, url, payout (e.g. 2.50 EUR), kind, "
            "hold (days), revshare (%), second (% for the referrer), event (deposit=5.00), "
            "status (paid=approved), ips (1.2.3.4,10.0.0.0/8 or -), channel (-100…)\n"
            "/offer_on ID, /offer_off ID: enable or disable an offer\n"
            "/offer_postback ID: the postback URL, secret and token for the advertiser\n"
            "/offer_secret ID: a new signing secret (the old one works until the next)\n"
            "/rate TG_ID OFFER_ID payout AMOUNT | revshare PERCENT | clear\n"
            "/reviews, /review_ok ID, /review_no ID: conversions held for review\n"
            "/payouts, /payout_ok ID, /payout_no ID [reason]: payout requests\n"
            "/adjust TG_ID AMOUNT CURRENCY NOTE: a manual balance correction\n"
            "/race_new: create a race (a guided dialog), /races: list them\n"
            "/race_edit ID FIELD VALUE, /race_cancel ID, /race_end ID (end now)\n"
            "/timezone ZONE: the time zone your race times are read in\n\n"
            "Macros in a target URL: {click_id}, {sub}, {affiliate_id}, {offer_id}, {link_code}"
        )
    )
    await message.answer(
        _(
            "<b>Offer kinds</b>\n\n"
            "<b>url</b>: the affiliate's link sends visitors to the advertiser's URL; what "
            "counts is what the advertiser's postbacks report (sign-ups, deposits).\n"
            "<b>bot</b>: the link opens this bot with the affiliate's code; every new person "
            "who starts the bot through it is a referral, and postbacks add conversions.\n"
            "<b>app</b>: the same, but the link opens the Mini App.\n"
            "<b>channel</b>: each affiliate gets an own invite link to a Telegram channel "
            "(the bot must be an admin there); every join through it counts."
        )
    )


def router() -> Router:
    """Admins only: /admin and the routers of each area."""
    r = Router(name=__name__)
    r.message.filter(IsAdmin())
    r.callback_query.filter(IsAdmin())
    r.message.register(cmd_admin, Command("admin"))
    r.include_routers(offers.router(), money.router(), races.router())
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
