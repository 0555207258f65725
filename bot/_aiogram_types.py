"""aiogram's Telegram types, with their validators built when first used instead of at import.

`import aiogram` ends by calling `model_rebuild()` on each of its ~440 pydantic types, and each
rebuilt type keeps a validator holding the whole tree of the types it contains: ~110 MB of
every process, most of it for types this bot never validates on their own. Here the import
runs with those calls recorded instead; each type is given the namespace aiogram would have
passed (so its names resolve whenever pydantic builds it: when it is first validated, or as
part of a type that holds it), and the types every update and reply go through are built at
once, at start-up, not while an update waits.

Call load() before anything imports aiogram (`python -m bot` and `tests/__init__.py` do, first
thing): if aiogram.types was imported already, it does nothing. Not in `bot/__init__.py`: the
chart process (`python -m bot.services.charts`) imports no aiogram at all.
"""

from __future__ import annotations

import sys
from typing import Any

# Built at start-up (as aiogram would have): what every update, reply and keyboard uses.
# The rest are built by pydantic the first time they are validated on their own.
AT_START = (
    "Update",
    "Message",
    "User",
    "Chat",
    "ChatFullInfo",
    "CallbackQuery",
    "InlineKeyboardMarkup",
    "InlineKeyboardButton",
    "ReplyKeyboardMarkup",
    "KeyboardButton",
    "ReplyKeyboardRemove",
    "WebAppInfo",
    "LinkPreviewOptions",
    "BotCommand",
    "MenuButtonWebApp",
    "MenuButtonCommands",
    "WebhookInfo",
    "ChatMemberUpdated",
    "ChatJoinRequest",
    "InaccessibleMessage",
)


# Methods built at start-up too: the calls of every update's reply and of the start.
METHODS_AT_START = (
    "SendMessage",
    "EditMessageText",
    "EditMessageReplyMarkup",
    "AnswerCallbackQuery",
    "DeleteMessage",
    "SendPhoto",
    "GetMe",
    "GetUpdates",
    "SetWebhook",
    "DeleteWebhook",
    "SetMyCommands",
    "SetChatMenuButton",
)


def load() -> None:
    if "aiogram.types" in sys.modules:
        return
    from pydantic import BaseModel

    recorded: list[dict[str, Any]] = []
    rebuild = BaseModel.__dict__["model_rebuild"]

    def record(_cls: type[BaseModel], **kwargs: Any) -> None:
        if kwargs.get("_types_namespace") is not None:
            recorded.append(kwargs["_types_namespace"])

    BaseModel.model_rebuild = classmethod(record)  # type: ignore[method-assign, assignment]
    try:
        from aiogram import types
    finally:
        BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
    from aiogram import methods

    namespace = recorded[0] if recorded else vars(types)
    # pydantic resolves the names in a model's fields (and in those of the models it holds)
    # from the namespace of the model it builds: give every aiogram model aiogram's types,
    # as aiogram's own rebuild did (generic responses inherit it from theirs).
    for model in _subclasses(BaseModel):
        if model.__module__.startswith("aiogram.") and not model.__pydantic_parent_namespace__:
            model.__pydantic_parent_namespace__ = namespace
    for name in AT_START:
        getattr(types, name).model_rebuild()
    for name in METHODS_AT_START:
        getattr(methods, name).model_rebuild()


def _subclasses(cls: type[Any]) -> list[type[Any]]:
    found: list[type[Any]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
