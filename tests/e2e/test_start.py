"""/start, referrals and the referrer's notice, as a user lives them."""

import asyncio

from aiogram.methods import SendMessage

from keyboards.callbacks import SettingsAction, SettingsCallback
from models import Affiliate, Referral
from tests.factories import Factory
from tests.stack import Stack


def sent_to(stack: Stack, chat_id: int) -> list[str]:
    return [
        r.text
        for r in stack.session.requests
        if isinstance(r, SendMessage) and r.chat_id == chat_id
    ]


async def test_start_registers_once_and_shows_the_menu(stack: Stack) -> None:
    alice = stack.tg.user(1, first_name="Alice")

    first = await alice.send("/start")
    again = await alice.send("/start")

    assert "Welcome, Alice" in first.text
    assert "Welcome back, Alice" in again.text
    assert first.buttons == [
        "📱 Open the app",  # PUBLIC_URL is https: Telegram can open the Mini App
        "🔗 My links",
        "📊 Stats",
        "🏁 Races",
        "💰 Balance",
        "⚙️ Settings",
        "❓ Help",
    ]
    assert await Affiliate.filter(tg_id=1).count() == 1
    app = first.markup.inline_keyboard[0][0]
    assert app.web_app is not None and app.web_app.url == "https://aff.example/app"


async def test_start_speaks_russian_to_russian_users(stack: Stack) -> None:
    ivan = stack.tg.user(2, first_name="Иван", language_code="ru")

    reply = await ivan.send("/start")

    assert "Добро пожаловать, Иван" in reply.text
    assert "🔗 Мои ссылки" in reply.buttons


async def test_referral_is_credited_and_the_referrer_told(stack: Stack, factory: Factory) -> None:
    rita = stack.tg.user(10, first_name="Rita")
    await rita.send("/start")
    code = (await factory.link(await Affiliate.get(tg_id=10))).code

    reply = await stack.tg.user(11, first_name="Nick").send(f"/start {code}")
    await asyncio.sleep(0.05)  # the fold delay is 0 in tests
    await stack.deliver()

    assert "Welcome, Nick" in reply.text
    assert await Referral.filter(referrer__tg_id=10).count() == 1
    assert sent_to(stack, 10)[-1] == "🎉 New referral: <b>Nick</b> joined through your link!"


async def test_the_referral_notice_names_the_sub_link_they_came_through(
    stack: Stack, factory: Factory
) -> None:
    from bot.services.links import LinkService

    rita = stack.tg.user(12, first_name="Rita")
    await rita.send("/start")
    me = await Affiliate.get(tg_id=12)
    await LinkService().add_sublink(me, "youtube")
    code = (await factory.link(me)).code

    await stack.tg.user(13, first_name="Nick").send(f"/start {code}_youtube")
    await asyncio.sleep(0.05)
    await stack.deliver()

    assert (await Referral.get(referrer_id=me.id)).sub == "youtube"
    assert sent_to(stack, 12)[-1] == (
        "🎉 New referral: <b>Nick</b> joined through your sub-link <code>youtube</code>!"
    )


async def test_a_burst_of_referrals_is_folded_into_one_message(
    database: str, redis: object, factory: Factory
) -> None:
    from tests.stack import build_stack

    stack = await build_stack(database, redis, REFERRAL_NOTIFY_DELAY=0.3)  # type: ignore[arg-type]
    referrer = await factory.affiliate(tg_id=20)
    code = (await factory.link(referrer)).code

    for uid, name in ((21, "Ann"), (22, "Ben"), (23, "<i>Cy</i>")):
        await stack.tg.user(uid, first_name=name).send(f"/start {code}")
    await asyncio.sleep(0.6)
    await stack.deliver()

    assert sent_to(stack, 20) == [
        "🎉 3 new referrals joined through your links: Ann, Ben, &lt;i&gt;Cy&lt;/i&gt;"
    ]
    await stack.services.notifier.close()
    await stack.services.click_loader.close()


async def test_notices_left_behind_are_sent_by_the_sweep_exactly_once(
    stack: Stack, factory: Factory
) -> None:
    referrer = await factory.affiliate(tg_id=30)
    code = (await factory.link(referrer)).code
    await stack.services.referrals.register_start(await factory.affiliate(name="Lost"), code)
    stack.services.notifier.fold_delay = -10  # everything waiting counts as left behind

    sent_first = await stack.services.notifier.sweep()
    sent_again = await stack.services.notifier.sweep()
    await stack.deliver()

    assert (sent_first, sent_again) == (1, 0)
    assert sent_to(stack, 30) == ["🎉 New referral: <b>Lost</b> joined through your link!"]


async def test_start_with_bad_codes_changes_nothing(stack: Stack, factory: Factory) -> None:
    owner = stack.tg.user(40, first_name="Olga")
    await owner.send("/start")
    own_code = (await factory.link(await Affiliate.get(tg_id=40))).code

    garbage = await stack.tg.user(41).send("/start <script>alert(1)</script>")
    overlong = await stack.tg.user(42).send("/start " + "a" * 300)
    unknown = await stack.tg.user(43).send("/start zzzzzzzz")
    own = await owner.send(f"/start {own_code}")

    for reply in (garbage, overlong, unknown):
        assert "not valid, but you are in" in reply.text
    assert "your own link" in own.text
    assert await Referral.all().count() == 0


async def test_referred_user_is_not_counted_twice(stack: Stack, factory: Factory) -> None:
    referrer = await factory.affiliate(tg_id=50)
    code = (await factory.link(referrer)).code
    nick = stack.tg.user(51)

    await nick.send(f"/start {code}")
    await nick.send(f"/start {code}")

    assert await Referral.filter(referrer_id=referrer.id).count() == 1


async def test_html_in_a_name_is_shown_as_text(stack: Stack) -> None:
    reply = await stack.tg.user(60, first_name="<b>Evil</b> & co").send("/start")

    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; co" in reply.text


async def test_referrer_who_blocked_the_bot_is_marked_and_nothing_fails(
    stack: Stack, factory: Factory
) -> None:
    from aiogram.exceptions import TelegramForbiddenError
    from aiogram.methods import SendMessage as Send

    referrer = await factory.affiliate(tg_id=70)
    code = (await factory.link(referrer)).code
    await stack.services.referrals.register_start(await factory.affiliate(), code)
    stack.session.queue(TelegramForbiddenError(Send(chat_id=70, text="x"), "bot was blocked"))

    await stack.services.notifier.flush_referrals(referrer.id)
    sent = await stack.deliver()

    assert not sent
    await referrer.refresh_from_db()
    assert referrer.blocked_at is not None
    assert await Referral.filter(notified_at__isnull=True).count() == 0


async def test_referrer_with_notifications_off_is_not_messaged(
    stack: Stack, factory: Factory
) -> None:
    rita = stack.tg.user(80, first_name="Rita")
    await rita.send("/start")
    await rita.press(SettingsCallback(action=SettingsAction.NOTIFY, value="0ref").pack())
    code = (await factory.link(await Affiliate.get(tg_id=80))).code

    await stack.tg.user(81, first_name="Nick").send(f"/start {code}")
    await asyncio.sleep(0.05)
    await stack.deliver()

    assert not any("New referral" in t for t in sent_to(stack, 80))
    assert await Referral.filter(referrer__tg_id=80, notified_at__isnull=False).count() == 1
