"""Small helpers shared by handlers: the link URLs and the menu text."""

from __future__ import annotations

from html import escape

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.errors import InvalidInput
from bot.services.inputs import ascii_int
from bot.services.links import LinkUrls
from models import Affiliate


async def link_urls(bot: Bot, settings: Settings) -> LinkUrls:
    me = await bot.me()
    return LinkUrls(settings.PUBLIC_URL, me.username or "", settings.MINIAPP_SHORT_NAME)


def menu_text(user: Affiliate) -> str:
    return _("Hi, {name}! What would you like to do?").format(name=escape(user.display_name))


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit the menu message in place; send a new one if it is too old to edit."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:  # a double tap changes nothing
                raise
    elif query.bot is not None:
        await query.bot.send_message(query.from_user.id, text, reply_markup=markup)
    await query.answer()


def leading_id(command: CommandObject, problem: str) -> tuple[int, str]:
    """`/command 12 rest…` -> (12, "rest…"); `problem` (a message id) when there is no number."""
    head, _sep, rest = (command.args or "").strip().partition(" ")
    number = ascii_int(head)
    if number is None:
        raise InvalidInput(problem, command=command.command)
    return number, rest.strip()
