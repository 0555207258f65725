"""Builds real Update objects for a user and feeds them through the real Dispatcher."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerInlineQuery,
    EditMessageText,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatInviteLink,
    InlineKeyboardMarkup,
    InlineQuery,
    Message,
    Sticker,
    Update,
    User,
)

from tests.mocked_bot import BOT_ID, MockedSession

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


@dataclass
class Reply:
    """What the bot sent back for one update."""

    requests: list[TelegramMethod[Any]]

    @property
    def messages(self) -> list[SendMessage | EditMessageText | SendPhoto]:
        return [
            r for r in self.requests if isinstance(r, (SendMessage, EditMessageText, SendPhoto))
        ]

    @property
    def text(self) -> str:
        """The text of the last message sent or edited (or photo caption)."""
        for r in reversed(self.messages):
            if isinstance(r, SendPhoto):
                return r.caption or ""
            return r.text
        raise AssertionError(f"the bot sent no message: {self.requests}")

    @property
    def markup(self) -> InlineKeyboardMarkup:
        for r in reversed(self.messages):
            if isinstance(r.reply_markup, InlineKeyboardMarkup):
                return r.reply_markup
        raise AssertionError("the bot sent no inline keyboard")

    @property
    def buttons(self) -> list[str]:
        return [b.text for row in self.markup.inline_keyboard for b in row]

    def button(self, text_part: str) -> str:
        """The callback data of the first button whose text contains `text_part`."""
        for row in self.markup.inline_keyboard:
            for b in row:
                if text_part in b.text and b.callback_data:
                    return b.callback_data
        raise AssertionError(f"no button with {text_part!r} in {self.buttons}")

    @property
    def alert(self) -> str | None:
        for r in self.requests:
            if isinstance(r, AnswerCallbackQuery):
                return r.text
        return None

    @property
    def inline_answer(self) -> AnswerInlineQuery:
        for r in self.requests:
            if isinstance(r, AnswerInlineQuery):
                return r
        raise AssertionError("no inline answer")


@dataclass
class TgUser:
    client: TgClient
    id: int
    first_name: str = "Alice"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    last_message_id: int = field(default=0)

    @property
    def tg(self) -> User:
        return User(
            id=self.id,
            is_bot=False,
            first_name=self.first_name,
            last_name=self.last_name,
            username=self.username,
            language_code=self.language_code,
        )

    def _message(self, **content: Any) -> Message:
        return Message(
            message_id=next(_message_ids),
            date=datetime.now(UTC),
            chat=Chat(id=self.id, type="private", first_name=self.first_name),
            from_user=self.tg,
            **content,
        )

    async def send(self, text: str) -> Reply:
        return await self.client.feed(
            Update(update_id=next(_update_ids), message=self._message(text=text))
        )

    async def send_content(self, **content: Any) -> Reply:
        """A message with anything Telegram allows: entities, a photo and caption, …"""
        return await self.client.feed(
            Update(update_id=next(_update_ids), message=self._message(**content))
        )

    async def send_sticker(self) -> Reply:
        sticker = Sticker(
            file_id="s",
            file_unique_id="s",
            type="regular",
            width=1,
            height=1,
            is_animated=False,
            is_video=False,
        )
        return await self.client.feed(
            Update(update_id=next(_update_ids), message=self._message(sticker=sticker))
        )

    async def press(self, data: str) -> Reply:
        message = Message(
            message_id=next(_message_ids),
            date=datetime.now(UTC),
            chat=Chat(id=self.id, type="private"),
            from_user=User(id=BOT_ID, is_bot=True, first_name="Affrace"),
            text="menu",
        )
        query = CallbackQuery(
            id=str(next(_update_ids)),
            from_user=self.tg,
            chat_instance="ci",
            message=message,
            data=data,
        )
        return await self.client.feed(Update(update_id=next(_update_ids), callback_query=query))

    async def inline(self, text: str = "") -> Reply:
        query = InlineQuery(id=str(next(_update_ids)), from_user=self.tg, query=text, offset="")
        return await self.client.feed(Update(update_id=next(_update_ids), inline_query=query))


def member_update(
    chat_id: int, user_id: int, old: str, new: str, invite_link: str | None = None
) -> Update:
    """A chat_member update: `user_id` went from status `old` to `new` in channel `chat_id`."""
    user = User(id=user_id, is_bot=False, first_name="Joiner")
    invite = None
    if invite_link:
        invite = ChatInviteLink(
            invite_link=invite_link,
            creator=User(id=BOT_ID, is_bot=True, first_name="A"),
            creates_join_request=False,
            is_primary=False,
            is_revoked=False,
        )
    return Update.model_validate(
        {
            "update_id": next(_update_ids),
            "chat_member": {
                "chat": Chat(id=chat_id, type="channel", title="Channel").model_dump(),
                "from": user.model_dump(),
                "date": int(datetime.now(UTC).timestamp()),
                "old_chat_member": {"status": old, "user": user.model_dump()},
                "new_chat_member": {"status": new, "user": user.model_dump()},
                **({"invite_link": invite.model_dump()} if invite else {}),
            },
        }
    )


@dataclass
class TgClient:
    dp: Dispatcher
    bot: Bot
    session: MockedSession

    def user(self, tg_id: int, **fields: Any) -> TgUser:
        return TgUser(self, tg_id, **fields)

    async def feed(self, update: Update) -> Reply:
        start = len(self.session.requests)
        await self.dp.feed_update(self.bot, update)
        return Reply(self.session.requests[start:])
