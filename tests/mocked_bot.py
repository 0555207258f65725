"""A Bot session that records every request and answers like Telegram would, offline.

In the spirit of aiogram's own tests/mocked_bot.py: handlers run for real through the real
Dispatcher; only Telegram's servers are replaced.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import deque
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerInlineQuery,
    CreateChatInviteLink,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    GetUpdates,
    PinChatMessage,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, ChatInviteLink, Document, Message, PhotoSize, User

BOT_ID = 424242
BOT_USERNAME = "affrace_test_bot"
LONG_POLL = 0.05  # seconds an empty getUpdates is held open


TAGS = "b|strong|i|em|u|ins|s|strike|del|span|tg-spoiler|a|code|pre|blockquote|tg-emoji"
TAG = re.compile(rf"<(/?)({TAGS})(?:\s[^<>]*)?>")


def html_problem(bot: Bot, method: TelegramMethod[Any]) -> str | None:
    """Why Telegram would refuse this message's HTML, or None."""
    text = getattr(method, "text", None) or getattr(method, "caption", None)
    mode = getattr(method, "parse_mode", None)
    if isinstance(mode, Default):
        mode = bot.default[mode.name]
    if not isinstance(text, str) or mode != "HTML":
        return None
    if getattr(method, "entities", None) or getattr(method, "caption_entities", None):
        return None
    open_tags: list[str] = []
    at = text.find("<")
    while at != -1:
        tag = TAG.match(text, at)
        if tag is None:
            return f"unsupported start tag at byte offset {at}"
        if tag.group(1):
            if not open_tags or open_tags.pop() != tag.group(2):
                return f"unmatched end tag at byte offset {at}"
        else:
            open_tags.append(tag.group(2))
        at = text.find("<", tag.end())
    return f"can't find end tag corresponding to start tag {open_tags[-1]}" if open_tags else None


class MockedSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.queued: deque[Any] = deque()
        self._ids = itertools.count(1000)
        # Refuse text whose HTML Telegram would refuse (an unescaped "<", a tag it does not
        # know, tags that do not close in order), as Telegram does: with a 400.
        self.strict_html = False
        self.html_refused: list[str] = []

    def texts_to(self, chat_id: int) -> list[str]:
        """The texts of the messages sent to `chat_id`, in order."""
        return [
            r.text for r in self.requests if isinstance(r, SendMessage) and r.chat_id == chat_id
        ]

    def queue(self, result: Any) -> None:
        """The next request gets this result (or raises it, when it is an exception)."""
        self.queued.append(result)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.requests.append(method)
        if self.strict_html:
            problem = html_problem(bot, method)
            if problem is not None:  # what Telegram answers to HTML it cannot parse
                self.html_refused.append(f"{problem}: {getattr(method, 'text', None)!r}")
                raise TelegramBadRequest(method, f"Bad Request: can't parse entities: {problem}")
        if isinstance(method, GetUpdates) and not self.queued:
            await asyncio.sleep(LONG_POLL)  # Telegram holds a long poll open; nothing came
            return []  # type: ignore[return-value]
        if self.queued:
            result = self.queued.popleft()
            if isinstance(result, BaseException):
                raise result
            return result  # type: ignore[no-any-return]
        return self._default(method)  # type: ignore[return-value]

    def _message(self, chat_id: Any, **fields: Any) -> Message:
        return Message(
            message_id=next(self._ids),
            date=datetime.now(UTC),
            chat=Chat(id=int(chat_id), type="private"),
            from_user=User(id=BOT_ID, is_bot=True, first_name="Affrace"),
            **fields,
        )

    def _default(self, method: TelegramMethod[Any]) -> Any:  # noqa: PLR0911 - one per method
        if isinstance(method, GetMe):
            return User(id=BOT_ID, is_bot=True, first_name="Affrace", username=BOT_USERNAME)
        if isinstance(method, SendMessage):
            return self._message(method.chat_id, text=method.text)
        if isinstance(method, EditMessageText):
            return self._message(method.chat_id or 1, text=method.text)
        if isinstance(method, SendDocument):
            document = Document(file_id="d", file_unique_id="d")
            return self._message(method.chat_id, document=document, caption=method.caption)
        if isinstance(method, SendPhoto):
            photo = [PhotoSize(file_id="p", file_unique_id="p", width=300, height=300)]
            return self._message(method.chat_id, photo=photo, caption=method.caption)
        if isinstance(method, CreateChatInviteLink):
            return ChatInviteLink(
                invite_link=f"https://t.me/+inv{next(self._ids)}",
                creator=User(id=BOT_ID, is_bot=True, first_name="Affrace"),
                creates_join_request=False,
                is_primary=False,
                is_revoked=False,
                name=method.name,
            )
        if isinstance(
            method,
            (
                AnswerCallbackQuery,
                AnswerInlineQuery,
                DeleteWebhook,
                DeleteMyCommands,
                SetWebhook,
                PinChatMessage,
                SetMyCommands,
                EditMessageReplyMarkup,
                SendChatAction,
            ),
        ):
            return True
        raise AssertionError(f"no canned answer for {type(method).__name__}")

    async def close(self) -> None:
        pass

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:  # pragma: no cover - not used
        yield b""
