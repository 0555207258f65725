"""The command lists Telegram shows in the "/" menu: one for everybody in each language, and
a longer one in each admin's own chat. Set at start-up (setMyCommands)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    MenuButtonCommands,
    MenuButtonWebApp,
    WebAppInfo,
)
from aiogram.utils.i18n import I18n
from loguru import logger

from bot.errors import N_
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES

EVERYONE = (
    ("start", N_("Main menu and your links")),
    ("menu", N_("Main menu")),
    ("language", N_("Change the language")),
    ("help", N_("How it works")),
)
ADMINS = (
    ("admin", N_("Admin panel")),
    ("offers", N_("Offers")),
    ("offer_new", N_("New offer (a guided dialog)")),
    ("races", N_("Races: list and manage")),
    ("race_new", N_("New race")),
    ("reviews", N_("Conversions held for review")),
    ("payouts", N_("Payout requests")),
    ("timezone", N_("Your time zone for race times")),
)


def commands(i18n: I18n, language: str, entries: tuple[tuple[str, str], ...]) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=i18n.gettext(text, locale=language))
        for name, text in entries
    ]


async def publish_commands(bot: Bot, i18n: I18n, admin_ids: frozenset[int]) -> None:
    """Everybody's list per language (the default one in English), and each admin's list in
    their chat. An admin who never started the bot has no chat yet: logged, not fatal."""
    for language in LANGUAGES:
        code = None if language == DEFAULT_LANGUAGE else language
        await bot.set_my_commands(
            commands(i18n, language, EVERYONE),
            scope=BotCommandScopeDefault(),
            language_code=code,
        )
    for admin in sorted(admin_ids):
        await publish_admin_commands(bot, i18n, admin, is_admin=True)


async def publish_admin_commands(bot: Bot, i18n: I18n, tg_id: int, *, is_admin: bool) -> None:
    """The admin commands in `tg_id`'s chat (an admin promoted), or none (one removed)."""
    for language in LANGUAGES:
        code = None if language == DEFAULT_LANGUAGE else language
        scope = BotCommandScopeChat(chat_id=tg_id)
        try:
            if is_admin:
                await bot.set_my_commands(
                    commands(i18n, language, EVERYONE + ADMINS), scope=scope, language_code=code
                )
            else:
                await bot.delete_my_commands(scope=scope, language_code=code)
        except TelegramAPIError as exc:  # "chat not found" before the admin's first /start
            logger.warning("could not set the admin commands for {}: {}", tg_id, exc)
            return


async def publish_menu_button(bot: Bot, app_url: str | None) -> None:
    """The chat's menu button opens the Mini App (Telegram wants its address in https);
    without one, the usual list of commands."""
    if app_url:
        button: MenuButtonWebApp | MenuButtonCommands = MenuButtonWebApp(
            text="Affrace", web_app=WebAppInfo(url=app_url)
        )
    else:
        button = MenuButtonCommands()
    await bot.set_chat_menu_button(menu_button=button)
