"""aiogram's types are built on first use (bot/_aiogram_types.py): every one of them must still
build, with its names resolved, whichever way pydantic first comes to it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_types_not_needed_at_start_wait_and_each_builds_when_first_used() -> None:
    out = run(
        """
        from bot import _aiogram_types
        _aiogram_types.load()  # as python -m bot does
        from pydantic import BaseModel
        from aiogram import types
        from bot._aiogram_types import AT_START

        models = [getattr(types, n) for n in types.__all__]
        models = [m for m in models if isinstance(m, type) and issubclass(m, BaseModel)]
        waiting = [m for m in models if not m.__pydantic_complete__]
        assert len(waiting) > 200, len(waiting)  # most wait: the memory saved
        assert all(getattr(types, n).__pydantic_complete__ for n in AT_START)
        # one first met through its validator (pydantic's stand-in rebuilds it)...
        assert not types.MessageEntity.__pydantic_complete__
        entity = types.MessageEntity.model_validate({
            "type": "text_mention", "offset": 0, "length": 3,
            "user": {"id": 5, "is_bot": False, "first_name": "Ann"},
        })
        assert entity.user.first_name == "Ann"
        # ...and every other one, as aiogram would have built them all
        failed = [m.__name__ for m in models if m.model_rebuild() is False]
        assert failed == [], failed
        print(len(models), len(waiting))
        """
    )
    models, waiting = map(int, out.split())
    assert models > 300 and waiting > 200


def test_an_update_of_each_kind_the_bot_handles_is_read_in_full() -> None:
    out = run(
        """
        from bot import _aiogram_types
        _aiogram_types.load()
        from aiogram.types import Update
        user = {"id": 7, "is_bot": False, "first_name": "A", "language_code": "ru"}
        chat = {"id": 7, "type": "private", "first_name": "A"}
        message = {"message_id": 1, "date": 1, "chat": chat, "from": user, "text": "/start x",
                   "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                   "reply_markup": {"inline_keyboard": [[{"text": "b", "callback_data": "d"}]]}}
        press = {"id": "q", "from": user, "chat_instance": "c", "data": "d",
                 "message": {"message_id": 2, "date": 0, "chat": chat}}
        member = {"chat": {"id": -100, "type": "channel", "title": "C"}, "from": user,
                  "date": 1, "old_chat_member": {"status": "left", "user": user},
                  "new_chat_member": {"status": "member", "user": user}}
        for body in ({"message": message}, {"callback_query": press},
                     {"chat_member": member}):
            update = Update.model_validate({"update_id": 1, **body})
            print(type(update.event).__name__)
        """
    )
    assert out.split() == ["Message", "CallbackQuery", "ChatMemberUpdated"]
