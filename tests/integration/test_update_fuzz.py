"""Random but well-formed Updates of every kind through the real Dispatcher: texts, commands
with odd arguments and entities, photos, contacts, stickers, buttons (random and nearly
right), inline queries, chosen results, joins and leaves, from new users, admins, banned
users and users in the middle of a dialog. None may fail: the errors router logs every
unexpected exception and the metrics count it, so the test watches both; and the bot must
still answer a plain /start at the end.

FUZZ_UPDATES raises the count (default 2000), FUZZ_SEED picks another sequence; the
hypothesis test below takes FUZZ_EXAMPLES (default 300)."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, get_args

import fakeredis
import pytest
from aiogram import BaseMiddleware
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatInviteLink,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatMemberUpdated,
    ChosenInlineResult,
    Contact,
    Document,
    InaccessibleMessage,
    InlineQuery,
    Location,
    Message,
    MessageEntity,
    PhotoSize,
    PreCheckoutQuery,
    Sticker,
    TelegramObject,
    Update,
    User,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from loguru import logger
from pydantic import ValidationError

from bot import db
from bot.errors import DomainError
from keyboards import callbacks
from models import Affiliate, OfferKind
from tests.factories import Factory, race_draft
from tests.mocked_bot import BOT_ID
from tests.stack import ADMIN_ID, Stack, build_stack

COUNT = int(os.environ.get("FUZZ_UPDATES", "2000"))
SEED = int(os.environ.get("FUZZ_SEED", "14"))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
BANNED_ID = 3000
CHANNEL = -1001234567890
SORRY = "Sorry, something went wrong"

FACTORIES: list[type[CallbackData]] = [
    cls
    for cls in vars(callbacks).values()
    if isinstance(cls, type) and issubclass(cls, CallbackData) and cls is not CallbackData
]
COMMANDS = [
    "start", "menu", "help", "language", "timezone", "admin", "offers", "offer_add",
    "offer_edit", "offer_on", "offer_off", "offer_postback", "offer_secret", "offer_new",
    "race_new", "races", "race_cancel", "race_end", "race_edit", "rate", "reviews",
    "review_ok", "review_no", "payouts", "payout_ok", "payout_no", "adjust", "nope",
]  # fmt: skip
TRICKY = [
    "", " ", "\n", "0", "1", "2", "-1", "00", "1.5", "1,50", "10 USD", "2.50 EUR", "9" * 25,
    "²", "١٢", "\u212a", "NaN", "inf", "1e309", "now", "+2h", "+9999d", "2026-12-24 18:00",
    "2026-02-30 10:00", "9999-12-31 23:59 +14:00", "0001-01-01 00:00 -12:00",
    "2026-12-24 18:00 Mars/Base", "Europe/Moscow", "UTC", "url", "bot", "channel", "app",
    "USD", "usd", "XXX", "-1001234567890", "-100", "https://a.example/x?c={click_id}",
    "javascript:alert(1)", "<", "a<b", "<i>open", "</b>", "<script>", "1=100 iPhone; 2=50",
    "1=-5", "1=; 1=2", "title New title",
    "hold 30", "payout 2 USD", "event deposit=5", "status paid=approved", "ips 10.0.0.1",
    "Open - https://a.example", "A - b", "x\x00y", "<b>bold</b>", "&amp;", "@user", "youtube",
    "channel-a", "a" * 33, "🙂" * 10, "\ud7ff", "1000 payout 5", "1000 1 revshare 5",
    "1000 1 clear", f"{ADMIN_ID}", f"{ADMIN_ID} 5.00 USD fix", "1 yes", "abc",
]  # fmt: skip
MEMBER_TYPES: dict[str, Any] = {
    "member": ChatMemberMember,
    "left": ChatMemberLeft,
    "kicked": ChatMemberBanned,
    "administrator": ChatMemberAdministrator,
    "restricted": ChatMemberRestricted,
    "creator": ChatMemberOwner,
}
LANGUAGES = [None, "en", "ru", "ru-RU", "de", "", "zz-ZZ", "x" * 35]


def rand_text(rng: random.Random, size: int = 40) -> str:
    """Random text with a fair share of awkward characters."""
    pools = [
        "abcdefghijklmnopqrstuvwxyz ",
        "0123456789.,-+=:;/_ ",
        "АБВгдеёжз ",
        "²³١٢٣\u212a\u0130ﬀ",
        "\n\t\r\u200b\u2028\ufeff",
        "<>&\"'{}%$#@!?*",
        "🙂🇷🇺👍🏽",
    ]
    pool = "".join(rng.sample(pools, rng.randint(1, len(pools))))
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, size)))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


ENTITY_KINDS = ["bold", "italic", "code", "pre", "url", "mention", "hashtag", "spoiler"]
ENTITY_KINDS += ["text_link", "bot_command", "underline", "strikethrough", "blockquote"]


def entity(rng: random.Random, text: str, start: int, end: int) -> MessageEntity:
    """An entity over text[start:end] (characters), in Telegram's UTF-16 offsets."""
    kind = rng.choice(ENTITY_KINDS)
    extra: dict[str, Any] = {}
    if kind == "text_link":
        extra["url"] = rng.choice(["https://a.example/", "tg://user?id=1"])
    if kind == "pre" and rng.random() < 0.5:
        extra["language"] = rng.choice(["python", "<b>"])
    offset = utf16_len(text[:start])
    return MessageEntity(type=kind, offset=offset, length=utf16_len(text[start:end]), **extra)


def entities_for(rng: random.Random, text: str) -> list[MessageEntity] | None:
    """Entities as Telegram sends them: on whole characters, nested or apart, never crossing."""
    if not text or rng.random() < 0.5:
        return None
    cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.choice([2, 4, 6]))))
    found = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        if start == end:
            continue
        found.append(entity(rng, text, start, end))
        if end - start > 1 and rng.random() < 0.4:  # one inside it
            inner = sorted(rng.sample(range(start, end + 1), 2))
            if inner[0] != inner[1]:
                found.append(entity(rng, text, inner[0], inner[1]))
    return found or None


def valid_value(rng: random.Random, annotation: Any) -> Any:
    """A value a field of a CallbackData would hold (or one just past its bounds)."""
    base = get_args(annotation)[0] if get_args(annotation) else annotation
    if isinstance(base, type) and issubclass(base, Enum):
        return rng.choice(list(base))
    if base is bool:
        return rng.random() < 0.5
    if base is int:
        return rng.choice([0, 1, 2, 3, 4, rng.randint(0, 60), 2**31 - 1, ADMIN_ID, BANNED_ID])
    alphabet = rng.choice(["abc-0", "0123456789abcdef", "USDEURB", "yt-1"])
    return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 3, 8, 8, 12, 33])))


def nearly_right_data(rng: random.Random) -> str:
    """A button's data: valid for one of our factories, sometimes spoilt a little."""
    factory = rng.choice(FACTORIES)
    for _ in range(5):
        values = {
            name: valid_value(rng, field.annotation)
            for name, field in factory.model_fields.items()
            if field.is_required() or rng.random() < 0.7
        }
        try:
            data = factory(**values).pack()
            break
        except (ValidationError, ValueError):
            continue
    else:
        data = factory.__prefix__ + ":" + rand_text(rng, 12)  # type: ignore[attr-defined]
    spoil = rng.random()
    if spoil < 0.1:
        return data[: rng.randrange(len(data) + 1)]
    if spoil < 0.2:
        return data + rng.choice([":", ":1", "\n", ":x" * 3])
    if spoil < 0.25:
        return data.replace(":", "::", 1)
    return data[:64]  # what Telegram allows in callback_data


class Fuzzer:
    """Builds the random updates; people are picked from a small cast so that what one update
    starts (a dialog, a ban) meets the next."""

    def __init__(self, rng: random.Random, offers: list[int]) -> None:
        self.rng = rng
        self.offers = offers
        self.update_id = 10_000
        self.message_id = 10_000
        self.people = [ADMIN_ID, BANNED_ID, 1, 2, 3, 4, 5]
        self.new_id = 50_000

    # -- who and where --------------------------------------------------------------------------

    def next_update_id(self) -> int:
        self.update_id += 1
        return self.update_id

    def next_message_id(self) -> int:
        self.message_id += 1
        return self.message_id

    def user(self, tg_id: int | None = None) -> User:
        rng = self.rng
        if tg_id is None:
            if rng.random() < 0.08:
                self.new_id += 1
                tg_id = self.new_id
            else:
                tg_id = rng.choice(self.people)
        return User(
            id=tg_id,
            is_bot=rng.random() < 0.02,
            first_name=rng.choice(["Alice", "Боб", "", "<b>x</b>", rand_text(rng, 64) or "Z"]),
            last_name=rng.choice([None, "Smith", rand_text(rng, 20)]),
            username=rng.choice([None, f"user{tg_id}", "a" * 32]),
            language_code=rng.choice(LANGUAGES),
            is_premium=rng.choice([None, True]),
        )

    def chat(self, user: User) -> Chat:
        roll = self.rng.random()
        if roll < 0.85:
            return Chat(id=user.id, type="private", first_name=user.first_name)
        if roll < 0.95:
            return Chat(id=-1001, type="supergroup", title="Group")
        return Chat(id=-5, type="group", title="Old group")

    def message(self, user: User | None = None, **content: Any) -> Message:
        sender = user or self.user()
        return Message(
            message_id=self.next_message_id(),
            date=datetime.now(UTC),
            chat=self.chat(sender),
            from_user=sender,
            **content,
        )

    # -- what people type ---------------------------------------------------------------------

    def typed(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            command = rng.choice(COMMANDS)
            mention = rng.choice(["", "", "@affrace_test_bot", "@other_bot"])
            args = rng.choice([*TRICKY, rand_text(rng), " ".join(rng.sample(TRICKY, 3))])
            return f"/{command}{mention} {args}".rstrip() if args else f"/{command}{mention}"
        if roll < 0.4:
            return "/start " + self.payload()
        if roll < 0.7:
            return rng.choice(TRICKY) or "x"
        if roll < 0.75:
            return rand_text(rng, 4096)[:4096] or "y"
        return rand_text(rng) or "z"

    def payload(self) -> str:
        rng = self.rng
        code = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(8))
        return rng.choice(
            [
                code,
                f"{code}_youtube",
                f"{code}_{'a' * 40}",
                code.upper(),
                "a" * 64,
                "a" * 65,
                "_",
                "-",
                "startapp",
                rand_text(rng, 70),
                f"{code}_{rand_text(rng, 10)}",
            ]
        )

    # -- the kinds of update ----------------------------------------------------------------

    def text_message(self) -> Update:
        text = self.typed()
        entities = entities_for(self.rng, text)
        message = self.message(text=text, entities=entities)
        if self.rng.random() < 0.05:
            return Update(update_id=self.next_update_id(), edited_message=message)
        return Update(update_id=self.next_update_id(), message=message)

    def media_message(self) -> Update:
        rng = self.rng
        caption = rng.choice([None, self.typed()])
        kind = rng.choice(["photo", "contact", "sticker", "document", "location"])
        content: dict[str, Any] = {}
        if kind == "photo":
            content["photo"] = [PhotoSize(file_id="p", file_unique_id="p", width=9, height=9)]
            content["caption"] = caption
            content["caption_entities"] = entities_for(rng, caption) if caption else None
        elif kind == "contact":
            content["contact"] = Contact(
                phone_number=rng.choice(["+79990000000", "", rand_text(rng, 12)]),
                first_name="C",
                user_id=rng.choice([None, ADMIN_ID, 1, 2**52]),
            )
        elif kind == "sticker":
            content["sticker"] = Sticker(
                file_id="s",
                file_unique_id="s",
                type="regular",
                width=1,
                height=1,
                is_animated=False,
                is_video=False,
            )
        elif kind == "document":
            content["document"] = Document(file_id="d", file_unique_id="d", file_name="a.csv")
            content["caption"] = caption
        else:
            content["location"] = Location(latitude=55.75, longitude=37.62)
        return Update(update_id=self.next_update_id(), message=self.message(**content))

    def button(self, data: str | None = None, user: User | None = None) -> Update:
        rng = self.rng
        sender = user or self.user()
        if data is None:
            data = nearly_right_data(rng) if rng.random() < 0.8 else rand_text(rng, 64)[:64]
        holder: dict[str, Any] = {}
        where = rng.random()
        if where < 0.8:
            holder["message"] = Message(
                message_id=self.next_message_id(),
                date=datetime.now(UTC),
                chat=Chat(id=sender.id, type="private"),
                from_user=User(id=BOT_ID, is_bot=True, first_name="Affrace"),
                text="menu",
            )
        elif where < 0.9:
            holder["message"] = InaccessibleMessage(
                chat=Chat(id=sender.id, type="private"), message_id=1
            )
        else:
            holder["inline_message_id"] = "inl-1"
        query = CallbackQuery(
            id=str(self.next_update_id()),
            from_user=sender,
            chat_instance="ci",
            data=data if rng.random() < 0.97 else None,
            game_short_name="g" if rng.random() < 0.01 else None,
            **holder,
        )
        return Update(update_id=self.next_update_id(), callback_query=query)

    def inline(self) -> Update:
        rng = self.rng
        query = InlineQuery(
            id=str(self.next_update_id()),
            from_user=self.user(),
            query=rng.choice([*TRICKY, rand_text(rng, 256)]),
            offset=rng.choice(["", "1", "10", "x", "-1", "9" * 30]),
            chat_type=rng.choice([None, "sender", "private", "group", "channel"]),
        )
        return Update(update_id=self.next_update_id(), inline_query=query)

    def chosen(self) -> Update:
        result = ChosenInlineResult(
            result_id=self.rng.choice(["1", "x", rand_text(self.rng, 64) or "r"]),
            from_user=self.user(),
            query=rand_text(self.rng),
        )
        return Update(update_id=self.next_update_id(), chosen_inline_result=result)

    def membership(self) -> Update:
        rng = self.rng
        statuses = ["member", "left", "kicked", "administrator", "restricted", "creator"]
        member = self.user(rng.choice([*self.people, rng.randint(1, 2**40)]))
        old, new = rng.choice(statuses), rng.choice(statuses)
        invite = None
        if rng.random() < 0.5:
            invite = ChatInviteLink(
                invite_link=rng.choice(["https://t.me/+inv1001", "https://t.me/+nope", "x"]),
                creator=User(id=BOT_ID, is_bot=True, first_name="A"),
                creates_join_request=False,
                is_primary=False,
                is_revoked=False,
            )
        event = ChatMemberUpdated.model_validate(
            {
                "chat": {"id": rng.choice([CHANNEL, -1001, 5]), "type": "channel", "title": "C"},
                "from": member.model_dump(),
                "date": int(time.time()),
                "old_chat_member": self.member(old, member),
                "new_chat_member": self.member(new, member),
                **({"invite_link": invite.model_dump()} if invite else {}),
            }
        )
        if rng.random() < 0.3:
            return Update(update_id=self.next_update_id(), my_chat_member=event)
        return Update(update_id=self.next_update_id(), chat_member=event)

    @staticmethod
    def member(status: str, user: User) -> dict[str, Any]:
        """A chat member of `status` with every flag its type requires."""
        model = MEMBER_TYPES[status]
        extra: dict[str, Any] = {}
        for name, field in model.model_fields.items():
            if field.is_required() and field.annotation is bool:
                extra[name] = False
        if "until_date" in model.model_fields:
            extra["until_date"] = 0
        return {"status": status, "user": user.model_dump(), **extra}

    def checkout(self) -> Update:
        query = PreCheckoutQuery(
            id=str(self.next_update_id()),
            from_user=self.user(),
            currency="XTR",
            total_amount=self.rng.randint(1, 10_000),
            invoice_payload=rand_text(self.rng, 20),
        )
        return Update(update_id=self.next_update_id(), pre_checkout_query=query)

    def channel_post(self) -> Update:
        post = Message(
            message_id=self.next_message_id(),
            date=datetime.now(UTC),
            chat=Chat(id=CHANNEL, type="channel", title="C"),
            sender_chat=Chat(id=CHANNEL, type="channel", title="C"),
            text=self.typed(),
        )
        return Update(update_id=self.next_update_id(), channel_post=post)

    # -- dialogs -----------------------------------------------------------------------------

    def dialog_opener(self) -> list[Update]:
        """A button or command that starts a dialog, then what the person types into it."""
        rng = self.rng
        A, AA = callbacks.AdminCallback, callbacks.AdminAction
        offer = rng.choice(self.offers)
        someone = rng.choice([1, 2, 3, BANNED_ID])
        admin_openers = [
            "/offer_new",
            "/race_new",
            A(action=AA.BROADCAST).pack(),
            A(action=AA.AFFILIATES).pack(),
            A(action=AA.PROMOTE).pack(),
            A(action=AA.BAN, id=someone).pack(),
            A(action=AA.REFERRER, id=someone).pack(),
            A(action=AA.RATE, id=someone).pack(),
            A(action=AA.OFFER_EDIT, id=offer, page=rng.randint(0, 12)).pack(),
            A(action=AA.PAY_NO, id=rng.randint(0, 3)).pack(),
            A(action=AA.PAID, id=rng.randint(0, 3)).pack(),
        ]
        everyone = [
            callbacks.LinkCallback(action=callbacks.LinkAction.SUB_ADD).pack(),
            callbacks.BalanceCallback(
                action=callbacks.BalanceAction.PAYOUT, currency="USD"
            ).pack(),
        ]
        tg_id = rng.choice([ADMIN_ID, ADMIN_ID, 1, 2, BANNED_ID])
        opener = rng.choice(admin_openers if tg_id == ADMIN_ID else everyone)
        user = self.user(tg_id).model_copy(update={"is_bot": False})
        if opener.startswith("/"):
            first = Update(
                update_id=self.next_update_id(),
                message=Message(
                    message_id=self.next_message_id(),
                    date=datetime.now(UTC),
                    chat=Chat(id=tg_id, type="private"),
                    from_user=user,
                    text=opener,
                ),
            )
        else:
            first = self.button(opener, user)
        answers = []
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.25:
                answers.append(self.button(nearly_right_form(rng), user))
            else:
                text = self.typed() if rng.random() < 0.5 else rng.choice(TRICKY) or "1"
                answers.append(
                    Update(
                        update_id=self.next_update_id(),
                        message=Message(
                            message_id=self.next_message_id(),
                            date=datetime.now(UTC),
                            chat=Chat(id=tg_id, type="private"),
                            from_user=user,
                            text=text,
                            entities=entities_for(rng, text),
                        ),
                    )
                )
        return [first, *answers]

    def updates(self, count: int) -> Iterator[Update]:
        makers: list[tuple[float, Callable[[], Update | list[Update]]]] = [
            (0.30, self.text_message),
            (0.08, self.media_message),
            (0.30, self.button),
            (0.06, self.inline),
            (0.02, self.chosen),
            (0.06, self.membership),
            (0.01, self.checkout),
            (0.02, self.channel_post),
            (0.15, self.dialog_opener),
        ]
        made = 0
        weights = [w for w, _ in makers]
        while made < count:
            (_, make) = self.rng.choices(makers, weights)[0]
            produced = make()
            for update in produced if isinstance(produced, list) else [produced]:
                if made == count:
                    return
                yield update
                made += 1


def nearly_right_form(rng: random.Random) -> str:
    """A dialog's button: the forms' keys with their actions and values."""
    form = rng.choice(["offer", "race", "of", "rc", "x"])
    action = rng.choice(list(callbacks.FormAction))
    value = rng.choice(["", "url", "bot", "channel", "USD", "clicks", "referrals", "1", "0", "9"])
    try:
        return callbacks.FormCallback(form=form, action=action, value=value).pack()
    except ValidationError:
        return f"f:{form}:{action}:{value}"


class Failures(BaseMiddleware):
    """Sees every exception a handler or middleware raised before the errors router does:
    a DomainError is a polite refusal, anything else is a defect (even if the errors router
    then apologises to the user)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except DomainError:
            raise
        except Exception as exc:
            self.seen.append("".join(traceback.format_exception(exc)))
            raise


async def build_world(stack: Stack, factory: Factory) -> list[int]:
    """Offers of each kind, a running race, a banned affiliate, money on balances and a
    payout request waiting: ids the random buttons can hit."""
    offers = [
        await factory.offer(),
        await factory.offer(title="Bot", kind=OfferKind.BOT),
        await factory.offer(title="Channel", kind=OfferKind.CHANNEL),
    ]
    offers[2].channel_id = CHANNEL
    await offers[2].save()
    race = await stack.services.races.create(race_draft())
    await stack.services.races.start_due()
    assert race.id
    await factory.affiliate(tg_id=BANNED_ID, is_banned=True, ban_reason="<spam> & more")
    for tg_id in (ADMIN_ID, 1, 2):
        await stack.tg.user(tg_id).send("/start")
    for tg_id in (1, 2):
        await stack.services.balance.adjust(tg_id, "500.00", "USD", "seed money")
    one = await Affiliate.get(tg_id=1)
    await stack.services.balance.request_payout(one, "USD", "IBAN DE00 0000")
    return [int(o.id) for o in offers]


@pytest.fixture
def logged_errors() -> Iterator[list[str]]:
    records: list[str] = []
    sink = logger.add(
        lambda m: records.append(str(m)), level="ERROR", format="{message}\n{exception}"
    )
    yield records
    logger.remove(sink)


async def test_random_updates_never_fail_and_the_bot_still_answers(
    stack: Stack, factory: Factory, logged_errors: list[str]
) -> None:
    offers = await build_world(stack, factory)
    stack.session.strict_html = True  # HTML Telegram would refuse is refused here too
    failures = Failures()
    stack.dp.update.outer_middleware(failures)  # inside aiogram's own errors middleware
    fuzzer = Fuzzer(random.Random(SEED), offers)
    started = time.monotonic()

    fed = 0
    for update in fuzzer.updates(COUNT):
        fed += 1
        before = len(stack.session.requests)
        try:
            await stack.dp.feed_update(stack.bot, update)
        except Exception as exc:  # nothing may escape the dispatcher
            failures.seen.append(f"escaped: {exc!r}")
        query = update.callback_query
        if query is not None and not query.from_user.is_bot:  # else the button spins
            sent = stack.session.requests[before:]
            if not any(isinstance(r, AnswerCallbackQuery) for r in sent):
                failures.seen.append(f"a button press was not answered: {sent}")
        if failures.seen or logged_errors or stack.session.html_refused:
            break
    elapsed = time.monotonic() - started

    what = update.model_dump_json(exclude_none=True)[:800]
    assert not failures.seen, f"update #{fed} {what}\n{failures.seen[0]}"
    assert not logged_errors, f"update #{fed} {what}\n{logged_errors[0]}"
    assert not stack.session.html_refused, f"update #{fed} {what}: {stack.session.html_refused}"
    sorry = [r for r in stack.session.requests if SORRY in str(getattr(r, "text", ""))]
    assert not sorry, sorry[0]
    assert fed == COUNT
    reply = await stack.tg.user(777_777).send("/start")
    assert "Welcome" in reply.text
    assert await Affiliate.filter(tg_id=777_777).exists()
    outcomes: dict[str, float] = {}
    for metric in stack.services.metrics.updates.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                key = f"{sample.labels['type']}/{sample.labels['outcome']}"
                outcomes[key] = outcomes.get(key, 0) + sample.value
    print(f"{COUNT} random updates in {elapsed:.1f} s: {sorted(outcomes.items())}")


# -- hypothesis: any button data and any text, one at a time ------------------------------------

BUTTON_DATA = st.one_of(
    st.text(max_size=64),
    st.builds(nearly_right_data, st.randoms(use_true_random=False)),
    st.builds(nearly_right_form, st.randoms(use_true_random=False)),
).filter(lambda d: len(d.encode()) <= 64)  # Telegram's limit for callback_data


def test_any_button_or_text_is_answered_and_never_fails(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """Hypothesis drives single updates (and shrinks a failure to its smallest): every press
    gets its callback answered (else the button spins), nothing fails."""
    loop = asyncio.new_event_loop()
    path = tmp_path / "test.sqlite3"
    shutil.copy(sqlite_template, path)
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    loop.run_until_complete(db.init(f"sqlite://{path}"))
    stack = loop.run_until_complete(build_stack(f"sqlite://{path}", redis))
    stack.session.strict_html = True
    failures = Failures()
    stack.dp.update.outer_middleware(failures)
    loop.run_until_complete(build_world(stack, Factory()))
    people = {tg_id: stack.tg.user(tg_id) for tg_id in (ADMIN_ID, 1, BANNED_ID)}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
    @given(who=st.sampled_from(sorted(people)), data=BUTTON_DATA, text=st.text(max_size=200))
    def one_update(who: int, data: str, text: str) -> None:
        press = loop.run_until_complete(people[who].press(data))
        loop.run_until_complete(people[who].send(text or "?"))

        assert not failures.seen, failures.seen[0]
        assert not stack.session.html_refused, stack.session.html_refused
        assert any(isinstance(r, AnswerCallbackQuery) for r in press.requests), press.requests

    try:
        one_update()
    finally:
        loop.run_until_complete(stack.services.notifier.close())
        loop.run_until_complete(stack.services.click_loader.close())
        loop.run_until_complete(stack.services.conversions.close())
        loop.run_until_complete(redis.aclose())
        loop.run_until_complete(db.close())
        loop.close()
        shutil.rmtree(stack.settings.spool_dir, ignore_errors=True)
