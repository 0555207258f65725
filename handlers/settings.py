"""Settings: language, time zone and notifications; /language, /timezone."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.errors import N_, InvalidInput
from bot.i18n import LANGUAGES, pick_language
from bot.services.affiliates import AffiliateService
from bot.services.inputs import ascii_int
from bot.services.zones import zone
from handlers.common import menu_text, show
from keyboards.callbacks import MenuAction, MenuCallback, SettingsAction, SettingsCallback
from keyboards.menu import main_menu_kb
from keyboards.settings import (
    COMMON_ZONES,
    language_kb,
    notifications_kb,
    settings_kb,
    zone_kb,
)
from models import Affiliate, Category


def settings_text() -> str:
    return _(
        "⚙️ <b>Settings</b>\n\nChoose your language, your time zone (race times and "
        '"today" in your stats follow it) and which news the bot sends you.'
    )


async def open_settings(query: CallbackQuery, user: Affiliate) -> None:
    await show(query, settings_text(), settings_kb(user.timezone))


def zone_text(current: str) -> str:
    return _(
        "🕒 Your time zone is <b>{zone}</b>. Pick one, or send /timezone with any other "
        "name, e.g. /timezone Asia/Tokyo"
    ).format(zone=escape(current))


async def choose_zone(query: CallbackQuery, user: Affiliate) -> None:
    await show(query, zone_text(user.timezone), zone_kb(user.timezone))


async def set_zone(
    query: CallbackQuery,
    callback_data: SettingsCallback,
    user: Affiliate,
    affiliates: AffiliateService,
) -> None:
    index = ascii_int(callback_data.value)
    if index is None or index >= len(COMMON_ZONES):
        raise InvalidInput(N_("This button is out of date."))
    await affiliates.set_timezone(user, COMMON_ZONES[index])
    await show(query, settings_text(), settings_kb(user.timezone))


async def cmd_timezone(
    message: Message, command: CommandObject, user: Affiliate, affiliates: AffiliateService
) -> None:
    """/timezone NAME for everyone: an IANA name (Europe/Moscow), UTC or an offset (+03:00)."""
    name = (command.args or "").strip()
    if not name:
        await message.answer(zone_text(user.timezone), reply_markup=zone_kb(user.timezone))
        return
    zone(name)  # InvalidInput when unknown
    await affiliates.set_timezone(user, name[:64])
    await message.answer(_("✅ Time zone set to {zone}.").format(zone=escape(name[:64])))


async def cmd_language(message: Message, user: Affiliate) -> None:
    current = pick_language(user.language, user.tg_language)
    await message.answer(_("Choose your language:"), reply_markup=language_kb(current))


async def choose_language(query: CallbackQuery, user: Affiliate) -> None:
    current = pick_language(user.language, user.tg_language)
    await show(query, _("Choose your language:"), language_kb(current))


async def set_language(
    query: CallbackQuery,
    callback_data: SettingsCallback,
    user: Affiliate,
    affiliates: AffiliateService,
    i18n: I18n,
    settings: Settings,
) -> None:
    if callback_data.value not in LANGUAGES:
        raise InvalidInput(N_("This button is out of date."))
    await affiliates.set_language(user, callback_data.value)
    i18n.current_locale = callback_data.value
    await show(
        query,
        _("✅ Language saved.") + "\n\n" + menu_text(user),
        main_menu_kb(settings.miniapp_url),
    )


def muted_of(user: Affiliate) -> set[Category]:
    return {c for c in Category if user.mutes(c)}


def notifications_text() -> str:
    return _(
        "🔔 <b>Notifications</b>\n\nTap a line to turn that news on (✅) or off (🔕).\n\n"
        "Payout decisions, prizes and changes to your balance are always told: they are "
        "your money."
    )


async def open_notifications(query: CallbackQuery, user: Affiliate, is_admin: bool) -> None:
    await show(query, notifications_text(), notifications_kb(muted_of(user), is_admin))


async def toggle_notify(
    query: CallbackQuery,
    callback_data: SettingsCallback,
    user: Affiliate,
    affiliates: AffiliateService,
    is_admin: bool,
) -> None:
    sign, value = callback_data.value[:1], callback_data.value[1:]
    category = next((c for c in Category if c.value == value), None)
    if sign not in {"0", "1"} or category is None:
        raise InvalidInput(N_("This button is out of date."))
    await affiliates.set_muted(user, category, muted=sign == "0")
    await show(query, notifications_text(), notifications_kb(muted_of(user), is_admin))


def router() -> Router:
    """This feature's router, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.callback_query.register(open_settings, MenuCallback.filter(F.action == MenuAction.SETTINGS))
    r.message.register(cmd_language, Command("language"))
    r.message.register(cmd_timezone, Command("timezone"))
    r.callback_query.register(
        choose_zone, SettingsCallback.filter(F.action == SettingsAction.ZONE)
    )
    r.callback_query.register(
        set_zone, SettingsCallback.filter(F.action == SettingsAction.SET_ZONE)
    )
    r.callback_query.register(
        choose_language, SettingsCallback.filter(F.action == SettingsAction.LANGUAGE)
    )
    r.callback_query.register(
        set_language, SettingsCallback.filter(F.action == SettingsAction.SET_LANGUAGE)
    )
    r.callback_query.register(
        toggle_notify, SettingsCallback.filter(F.action == SettingsAction.NOTIFY)
    )
    r.callback_query.register(
        open_notifications, SettingsCallback.filter(F.action == SettingsAction.NOTIFICATIONS)
    )
    return r
