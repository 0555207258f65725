"""Menu sections, settings, fallbacks, throttling and the admin offer commands."""

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram.methods import AnswerCallbackQuery
from redis.exceptions import ConnectionError as RedisConnectionError

from keyboards.callbacks import MenuAction, MenuCallback, SettingsAction, SettingsCallback
from models import Affiliate, Offer, OfferKind
from tests.factories import Factory, race_draft
from tests.stack import ADMIN_ID, Stack, build_stack, make_settings


async def test_every_menu_button_answers(stack: Stack) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")

    for action, expected in [
        (MenuAction.STATS, "Your numbers for today"),
        (MenuAction.RACES, "No races yet"),
        (MenuAction.BALANCE, "Nothing earned yet"),
        (MenuAction.HELP, "How it works"),
        (MenuAction.SETTINGS, "Settings"),
        (MenuAction.MAIN, "What would you like to do?"),
    ]:
        reply = await alice.press(MenuCallback(action=action).pack())
        assert expected in reply.text, action
        assert any(isinstance(r, AnswerCallbackQuery) for r in reply.requests)


async def test_language_switch_is_remembered(stack: Stack) -> None:
    alice = stack.tg.user(1, language_code="en")
    await alice.send("/start")

    pick = await alice.send("/language")
    saved = await alice.press(
        SettingsCallback(action=SettingsAction.SET_LANGUAGE, value="ru").pack()
    )
    later = await alice.send("/help")

    assert "Русский" in pick.buttons
    assert "Язык сохранён" in saved.text
    assert "Как это работает" in later.text
    assert (await Affiliate.get(tg_id=1)).language == "ru"


async def test_each_category_of_news_has_its_own_toggle_and_money_is_always_told(
    stack: Stack, factory: Factory
) -> None:
    from bot.services.conversions import Claim
    from models import Category, ConversionStatus, Referral

    alice = stack.tg.user(1)
    await alice.send("/start")
    settings = await alice.press(MenuCallback(action=MenuAction.SETTINGS).pack())
    screen = await alice.press(settings.button("Notifications"))
    muted = await alice.press(screen.button("✅ New referrals"))
    admin_screen = await stack.tg.user(ADMIN_ID).press(
        SettingsCallback(action=SettingsAction.NOTIFICATIONS).pack()
    )
    me = await Affiliate.get(tg_id=1)
    offer = await factory.offer("Shop", hold_days=0)
    link = await factory.link(me, offer)
    await stack.tg.user(2).send(f"/start {(await factory.link(me)).code}")  # a referral
    await stack.services.conversions.record(
        Claim(offer, link, None, None, "c-1", "sale", 0, "USD", ConversionStatus.APPROVED)
    )
    stack.services.notifier.conversion_stored(me.id)
    admin = stack.tg.user(ADMIN_ID)
    await admin.press((await admin.send("/adjust 1 1.00 USD bonus")).button("Yes"))
    await asyncio.sleep(0.05)
    await stack.deliver()

    told = [
        r.text
        for r in stack.session.requests
        if getattr(r, "chat_id", None) == 1 and hasattr(r, "text") and r.text
    ]
    assert "Payout decisions, prizes and changes to your balance are always told" in screen.text
    assert "🔕 New referrals" in muted.buttons and "✅ Conversions" in muted.buttons
    assert not any("Admin:" in b for b in muted.buttons)  # not an admin
    assert "✅ Admin: payout requests and reviews" in admin_screen.buttons
    assert (await Affiliate.get(tg_id=1)).mutes(Category.REFERRALS)
    assert await Referral.filter(referrer_id=me.id).count() == 1
    assert not any("New referral" in t for t in told)  # muted
    assert any("New conversion" in t for t in told)  # still on
    assert any("Your balance was adjusted" in t for t in told)  # money: always


async def test_unknown_commands_and_stickers_get_the_menu(stack: Stack) -> None:
    alice = stack.tg.user(1)

    command = await alice.send("/nonsense")
    sticker = await alice.send_sticker()

    assert "I don't know that command." in command.text
    assert "I work with buttons and commands." in sticker.text
    assert "🔗 My links" in sticker.buttons


async def test_non_admin_sees_no_trace_of_admin_commands(stack: Stack) -> None:
    mallory = stack.tg.user(2)

    for command in ("/admin", "/offers", "/offer_add url 1 USD https://x.test Y", "/offer_off 1"):
        reply = await mallory.send(command)
        assert reply.text.startswith("I don't know that command."), command
    assert await Offer.all().count() == 0


async def test_admin_creates_lists_edits_and_disables_offers(stack: Stack) -> None:
    admin = stack.tg.user(ADMIN_ID)

    created = await admin.send(
        "/offer_add url 2.50 USD https://shop.example/?cid={click_id}&s={sub} Shop sign-ups"
    )
    bot_offer = await admin.send("/offer_add bot 1 EUR Bot users")
    edited = await admin.send("/offer_edit 1 payout 3.75 USD")
    disabled = await admin.send("/offer_off 2")
    listing = await admin.send("/offers")

    assert "Offer created" in created.text and "$2.50" in created.text
    assert "Bot users" in bot_offer.text
    assert "$3.75" in edited.text
    assert "⚪️ #2" in disabled.text
    assert "🟢 #1" in listing.text and "⚪️ #2" in listing.text
    shop = await Offer.get(id=1)
    assert (shop.kind, shop.payout_minor, shop.currency) == (OfferKind.URL, 375, "USD")


async def test_admin_bad_input_is_explained_and_changes_nothing(stack: Stack) -> None:
    admin = stack.tg.user(ADMIN_ID)

    replies = [
        await admin.send("/offer_add"),
        await admin.send("/offer_add tv 1 USD Title"),
        await admin.send("/offer_add url abc USD https://x.test T"),
        await admin.send("/offer_add url 1 XXX https://x.test T"),
        await admin.send("/offer_add url 1 USD ftp://x.test T"),
        await admin.send("/offer_add url 1 USD https://x.test/?a={nope} T"),
        await admin.send("/offer_add bot 1 USD " + "x" * 300),
        await admin.send("/offer_edit 99 title New"),
        await admin.send("/offer_on abc"),
    ]

    texts = [r.text for r in replies]
    assert texts[0].startswith("Usage: /offer_add KIND AMOUNT CURRENCY [URL] TITLE")
    assert "{click_id}" in texts[0]
    assert texts[1] == "The kind is one of: url, bot, app, channel."
    assert texts[2] == "abc is not an amount. Write it like 12.50"
    assert texts[3].startswith("XXX is not a currency code")
    assert texts[4] == "The target must be an http:// or https:// address."
    assert texts[5].startswith("Unknown macro {nope}")
    assert texts[6] == "A title is 1–128 characters."
    assert texts[7] == "There is no offer #99."
    assert texts[8] == "Give the offer's number, e.g. /offer_on 3"
    assert await Offer.all().count() == 0


async def test_flood_from_one_user_is_throttled_politely(database: str, redis: object) -> None:
    stack = await build_stack(database, redis, THROTTLE_RATE=3)  # type: ignore[arg-type]
    alice = stack.tg.user(1)
    await asyncio.sleep(1 - time.time() % 1)  # the limit is per clock second: start one afresh

    replies = [await alice.send("/help") for _ in range(6)]

    texts = [r.text if r.messages else None for r in replies]
    assert texts[3] == "Whoa, that's fast! Please wait a second and try again."
    assert texts[4:] == [None, None]
    assert all(t is not None and "How it works" in t for t in texts[:3])
    keys = [k async for k in stack.redis.scan_iter(match="throttle:1:*")]
    assert keys, "the flood was counted in Redis"
    assert all(0 < ttl <= 2 for ttl in [await stack.redis.ttl(k) for k in keys])  # none stays
    await stack.services.click_loader.close()


async def test_a_flood_count_never_outlives_its_second_when_redis_drops_mid_update(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis answers the count of this second, then the connection drops: the count still
    expires (it was kept apart from its expiry, and stayed for good)."""
    real = stack.redis.execute_command
    dropped: list[str] = []

    async def drop_after_the_count(*args: Any, **options: Any) -> Any:
        result = await real(*args, **options)
        if not dropped and any(str(a).startswith("throttle:") for a in args):
            dropped.append(str(args[0]))
            monkeypatch.setattr(stack.redis, "execute_command", failing_once)
        return result

    async def failing_once(*args: Any, **options: Any) -> Any:
        monkeypatch.setattr(stack.redis, "execute_command", real)
        raise RedisConnectionError("connection lost")

    monkeypatch.setattr(stack.redis, "execute_command", drop_after_the_count)
    with contextlib.suppress(Exception):  # the update itself may fail: Telegram sends it again
        await stack.tg.user(7).send("/help")

    keys = [k async for k in stack.redis.scan_iter(match="throttle:7:*")]
    assert dropped and keys
    assert all(0 < ttl <= 2 for ttl in [await stack.redis.ttl(k) for k in keys])


def test_the_bot_asks_telegram_for_every_update_it_handles(stack: Stack) -> None:
    wanted = set(stack.dp.resolve_used_update_types())

    assert {"message", "callback_query", "inline_query", "chat_member"} <= wanted


async def test_the_command_menu_is_set_per_language_and_longer_for_admins(stack: Stack) -> None:
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import SetMyCommands
    from aiogram.types import BotCommandScopeChat, BotCommandScopeDefault

    from bot.telegram.commands import publish_commands

    stack.session.queue(True)
    stack.session.queue(True)
    stack.session.queue(True)
    stack.session.queue(True)
    # A second admin who never started the bot: Telegram knows no chat with them yet.
    stack.session.queue(TelegramBadRequest(method=None, message="chat not found"))  # type: ignore[arg-type]

    await publish_commands(stack.bot, stack.services.i18n, frozenset({ADMIN_ID, ADMIN_ID + 1}))

    sent = [r for r in stack.session.requests if isinstance(r, SetMyCommands)]
    everyone = {r.language_code: r for r in sent if isinstance(r.scope, BotCommandScopeDefault)}
    admins = [r for r in sent if isinstance(r.scope, BotCommandScopeChat)]
    assert set(everyone) == {None, "ru"}
    assert [c.command for c in everyone[None].commands] == ["start", "menu", "language", "help"]
    assert everyone["ru"].commands[2].description == "Сменить язык"
    assert [(r.scope.chat_id, r.language_code) for r in admins] == [  # type: ignore[union-attr]
        (ADMIN_ID, None),
        (ADMIN_ID, "ru"),
        (ADMIN_ID + 1, None),
    ]
    assert "payouts" in [c.command for c in admins[0].commands]


async def test_every_sub_screen_has_a_way_back_and_the_menu_one_tap_away(
    stack: Stack, factory: Factory
) -> None:
    from keyboards.callbacks import (
        BalanceAction,
        BalanceCallback,
        LinkAction,
        LinkCallback,
        RaceAction,
        RaceCallback,
        SettingsAction,
        SettingsCallback,
    )

    alice = stack.tg.user(1)
    await alice.send("/start")
    link = await factory.link(await Affiliate.get(tg_id=1), await factory.offer())
    now = datetime.now(UTC)
    race = await stack.services.races.create(race_draft(title="Cup", starts_at=now, prizes=[]))

    screens = {
        "language": (SettingsCallback(action=SettingsAction.LANGUAGE), "⬅️ Settings"),
        "history": (BalanceCallback(action=BalanceAction.HISTORY), "⬅️ Balance"),
        "race card": (RaceCallback(action=RaceAction.SHOW, race_id=race.id), "⬅️ Races"),
        "leaderboard": (RaceCallback(action=RaceAction.BOARD, race_id=race.id), "⬅️ Race"),
        "link": (LinkCallback(action=LinkAction.SHOW, link_id=link.id), "⬅️ My links"),
        "sub-links": (LinkCallback(action=LinkAction.SUBS), "⬅️ My links"),
    }
    for name, (data, back) in screens.items():
        reply = await alice.press(data.pack())
        assert back in reply.buttons and "🏠 Menu" in reply.buttons, (name, reply.buttons)


async def test_anyone_picks_a_time_zone_and_sees_race_times_and_today_in_it(
    stack: Stack, factory: Factory
) -> None:
    from keyboards.callbacks import RaceAction, RaceCallback
    from keyboards.settings import COMMON_ZONES

    bob = stack.tg.user(7)  # not an admin
    await bob.send("/start")
    settings = await bob.press(MenuCallback(action=MenuAction.SETTINGS).pack())
    picker = await bob.press(settings.button("Time zone: UTC"))
    moscow = SettingsCallback(
        action=SettingsAction.SET_ZONE, value=str(COMMON_ZONES.index("Europe/Moscow"))
    )
    saved = await bob.press(moscow.pack())
    typed = await bob.send("/timezone Asia/Tokyo")
    await bob.press(moscow.pack())
    race = await stack.services.races.create(
        race_draft(
            title="Cup",
            starts_at=datetime(2031, 12, 24, 15, 0, tzinfo=UTC),  # 18:00 in Moscow
            ends_at=datetime(2031, 12, 31, 15, 0, tzinfo=UTC),
            prizes=[],
        )
    )
    card = await bob.press(RaceCallback(action=RaceAction.SHOW, race_id=race.id).pack())

    assert "Europe/Moscow" in picker.buttons and "⬅️ Settings" in picker.buttons
    assert "🕒 Time zone: Europe/Moscow" in saved.buttons
    assert typed.text == "✅ Time zone set to Asia/Tokyo."
    assert "⏳ Starts 24 Dec, 18:00 (in " in card.text  # Moscow's wall clock, not 15:00 UTC
    assert (await Affiliate.get(tg_id=7)).timezone == "Europe/Moscow"


async def test_admin_commands_screen_lists_the_commands_and_explains_offer_kinds(
    stack: Stack,
) -> None:
    admin = stack.tg.user(ADMIN_ID)
    panel = await admin.send("/admin")

    reply = await admin.press(panel.button("Commands"))

    assert "/offer_add KIND" in reply.text
    for kind in ("url", "bot", "app", "channel"):
        assert f"<b>{kind}</b>:" in reply.text, kind
    assert "invite link" in reply.text and "Mini App" in reply.text
    assert reply.buttons == ["⬅️ Back"]


async def test_the_chat_menu_button_opens_the_mini_app_only_with_an_https_address(
    stack: Stack,
) -> None:
    from aiogram.methods import SetChatMenuButton
    from aiogram.types import MenuButtonCommands, MenuButtonWebApp

    from bot.telegram.commands import publish_menu_button

    stack.session.queue(True)
    stack.session.queue(True)

    await publish_menu_button(stack.bot, stack.settings.miniapp_url)
    local = make_settings(stack.settings.DATABASE_URL, PUBLIC_URL="http://localhost:8080")
    await publish_menu_button(stack.bot, local.miniapp_url)  # Telegram opens only https

    app, plain = [
        r.menu_button for r in stack.session.requests if isinstance(r, SetChatMenuButton)
    ]
    assert isinstance(app, MenuButtonWebApp) and app.web_app.url == "https://aff.example/app"
    assert isinstance(plain, MenuButtonCommands)
