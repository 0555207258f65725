"""The Mini App as its users see it, in a real Chromium against the real server and database:
every screen shows the numbers the database holds, the live board moves after a tick, the
Back and Main buttons do what they say, and a forged initData is refused on screen."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, expect

from bot.services.conversions import Claim
from models import (
    Affiliate,
    Conversion,
    ConversionStatus,
    Link,
    Offer,
    PayoutRequest,
    PayoutStatus,
    Referral,
    SubLink,
)
from scheduler import jobs
from tests.browser.driver import (
    DARK,
    LIGHT,
    MiniApp,
    back_visible,
    calls,
    chromium_or_skip,
    eventually,
    main_button,
    posted,
    receive,
    shoot,
)
from tests.factories import Factory, make_click, race_draft
from tests.stack import ADMIN_ID, Stack

ALICE = 21


async def earn(
    stack: Stack, factory: Factory, owner: Affiliate, minor: int, txid: str, days_ago: int = 0
) -> Offer:
    """An approved conversion worth `minor` to `owner`, `days_ago` days back."""
    offer = await Offer.filter(title="Shop").first() or await factory.offer(hold_days=0)
    await Offer.filter(id=offer.id).update(payout_minor=minor)
    offer = await Offer.get(id=offer.id)
    link = await Link.filter(affiliate_id=owner.id, offer_id=offer.id).first()
    link = link or await factory.link(owner, offer)
    await stack.services.conversions.record(
        Claim(offer, link, None, None, txid, "sale", 0, "USD", ConversionStatus.APPROVED)
    )
    if days_ago:
        when = datetime.now(UTC) - timedelta(days=days_ago)
        await Conversion.filter(txid=txid).update(created_at=when)
    return offer


async def alice_with_earnings(stack: Stack, factory: Factory) -> Affiliate:
    """Alice: $12.50 today, $30.00 over the week, 3 clicks today and one referral."""
    alice = await factory.affiliate(tg_id=ALICE, name="Alice")
    offer = await earn(stack, factory, alice, 1250, "t-today")
    await earn(stack, factory, alice, 1000, "t-2d", days_ago=2)
    await earn(stack, factory, alice, 750, "t-5d", days_ago=5)
    link = await Link.get(affiliate_id=alice.id, offer_id=offer.id)
    for _ in range(3):
        await make_click(link, seconds_ago=60)
    await stack.services.referrals.register_start(
        await factory.affiliate(tg_id=22, name="Bob"), (await factory.link(alice)).code
    )
    return alice


async def tick(stack: Stack) -> None:
    races = stack.services.races
    await jobs.tick_races(
        races, stack.services.race_news, stack.services.lease, stack.services.feed
    )


async def tab(page: Page, name: str) -> None:
    await page.click(f"button.tab[data-tab='{name}']")


async def test_dashboard_shows_the_users_numbers_and_the_chart_of_the_period_picked(
    miniapp: MiniApp, stack: Stack, factory: Factory
) -> None:
    await alice_with_earnings(stack, factory)

    page = await miniapp.open(ALICE)

    today = page.locator("table.numbers td[data-period='today']")
    week = page.locator("table.numbers td[data-period='7d']")
    await expect(page.locator("h1.title")).to_have_text("Hi, Alice!")
    assert await today.all_inner_texts() == ["3", "3", "1", "1", "33.3%", "$12.50", "$4.16"]
    assert (await week.all_inner_texts())[5] == "$30.00"
    assert await page.locator("svg.chart rect.bar-conv").count() == 3  # days with conversions
    assert await page.locator(".chip[data-period='7d']").get_attribute("aria-selected") == "true"
    await page.click(".chip[data-period='today']")
    await expect(page.locator("svg.chart rect.bar-conv")).to_have_count(1)  # one hour today
    assert await page.locator("svg.chart text.axis").first.text_content() == "$0"
    assert await main_button(page) == {"text": "Share my link", "visible": True}
    assert not await back_visible(page)

    await page.evaluate("window.__tg.pressMain()")

    assert await eventually(lambda: calls(page, "switchInlineQuery")) == [
        ["", ["users", "groups", "channels"]]
    ]
    assert ["impact" in n or "selection" in n for n in await page.evaluate("window.__tg.names()")]


async def test_links_copy_share_show_a_qr_code_and_manage_sub_links(
    miniapp: MiniApp, stack: Stack, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=ALICE, name="Alice")
    await factory.offer(title="Shop")
    page = await miniapp.open(ALICE)
    await tab(page, "links")
    own = page.locator(".card.link").first
    await expect(own).to_contain_text("https://t.me/affrace_test_bot?start=")
    code = await own.get_attribute("data-code")
    assert await page.locator(".card.link .badge").all_inner_texts() == ["Bot", "Website"]

    await own.get_by_role("button", name="Copy").click()
    await expect(page.locator("#toast")).to_have_text("Link copied")
    copied = await page.evaluate("navigator.clipboard.readText()")
    await own.get_by_role("button", name="Share").click()
    await own.get_by_role("button", name="QR code").click()
    await expect(page.locator("img.qr")).to_be_visible()
    qr_width = await page.locator("img.qr").evaluate("img => img.naturalWidth")
    back_on_qr = await back_visible(page)
    await page.evaluate("window.__tg.pressBack()")
    await expect(page.locator("h1.title")).to_have_text("My links")

    assert copied == f"https://t.me/affrace_test_bot?start={code}"
    assert await calls(page, "switchInlineQuery") == [[code, ["users", "groups", "channels"]]]
    assert qr_width > 100 and back_on_qr and not await back_visible(page)

    assert (await main_button(page))["text"] == "Add a sub-link"
    await page.evaluate("window.__tg.pressMain()")
    await expect(page.locator("h1.title")).to_have_text("New sub-link")
    await page.fill("input[name=label]", "no spaces!")
    await page.evaluate("window.__tg.pressMain()")
    await expect(page.locator(".field-error")).to_contain_text("latin letters")
    await page.fill("input[name=label]", "youtube")
    await page.evaluate("window.__tg.pressMain()")
    await expect(page.locator("li.row[data-label='youtube']")).to_be_visible()
    assert await SubLink.filter(affiliate_id=alice.id).values_list("label", flat=True) == [
        "youtube"
    ]

    await page.locator("li.row[data-label='youtube'] button").click()
    await expect(page.locator("li.row[data-label='youtube']")).to_have_count(0)
    assert await SubLink.filter(affiliate_id=alice.id).count() == 0
    confirms = await calls(page, "showConfirm")
    assert confirms and "youtube" in confirms[0][0]


async def test_a_race_board_joins_and_moves_live_after_a_tick_without_a_reload(
    miniapp: MiniApp, stack: Stack, factory: Factory
) -> None:
    race = await stack.services.races.create(race_draft(title="Winter cup", opt_in=True))
    await tick(stack)
    alice = await factory.affiliate(tg_id=ALICE, name="Alice")
    page = await miniapp.open(ALICE)
    await tab(page, "races")
    await page.click(f".race-row[data-race='{race.id}']")
    await expect(page.locator(".live")).to_have_attribute("data-state", "live")
    assert (await main_button(page))["text"] == "Join the race"
    ends = await page.locator(".when").inner_text()

    await page.evaluate("window.__tg.pressMain()")
    await expect(page.locator(".me-card .big")).to_contain_text("#1")
    await stack.services.referrals.register_start(
        await factory.affiliate(tg_id=23, name="Carol"), (await factory.link(alice)).code
    )
    await tick(stack)

    await expect(page.locator(".standing.me .score")).to_have_text("1 referral", timeout=5000)
    await expect(page.locator(".standing.me .name")).to_have_text("Alice")
    assert ends.startswith("Ends in 23:59:") or ends.startswith("Ends in 1 d")
    await expect(page.locator(".when")).not_to_have_text(ends)  # the countdown runs
    assert not (await main_button(page))["visible"]  # joined: nothing more to do
    assert await back_visible(page)
    await page.evaluate("window.__tg.pressBack()")
    await expect(page.locator(".race-row .badge")).to_have_text("Joined")


async def test_balance_history_and_a_payout_request_through_the_main_button(
    miniapp: MiniApp, stack: Stack, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=ALICE, name="Alice")
    await earn(stack, factory, alice, 2500, "p1")
    page = await miniapp.open(ALICE)
    await tab(page, "balance")
    await expect(page.locator(".balance .available")).to_have_text("$25.00")
    await expect(page.locator("li.history")).to_have_count(1)
    assert (await main_button(page))["text"] == "Request a payout"

    await page.evaluate("window.__tg.pressMain()")
    await expect(page.locator("h1.title")).to_have_text("Payout request")
    await page.evaluate("window.__tg.pressMain()")  # no details yet
    await expect(page.locator(".field-error")).to_have_text("Say where to send the money.")
    await page.fill("textarea[name=details]", "IBAN DE00 1234")
    await page.evaluate("window.__tg.pressMain()")

    await expect(page.locator(".banner")).to_contain_text("Payout request #")
    await expect(page.locator(".balance .available")).to_have_text("$0.00")
    request = await PayoutRequest.get(affiliate_id=alice.id)
    assert request.amount_minor == 2500 and request.details == "IBAN DE00 1234"
    assert not (await main_button(page))["visible"]  # one open request at a time
    assert "haptic.notification" in await page.evaluate("window.__tg.names()")


async def test_admins_see_the_programme_and_approve_a_payout_others_see_no_admin_tab(
    miniapp: MiniApp, stack: Stack, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=ALICE, name="Alice")
    await earn(stack, factory, alice, 2500, "a1")
    payout = await stack.services.balance.request_payout(alice, "USD", "wallet-1")
    await factory.affiliate(tg_id=ADMIN_ID, name="Ada")

    mine = await miniapp.open(ALICE)
    page = await miniapp.open(ADMIN_ID)
    await tab(page, "admin")
    item = page.locator(f".payout[data-payout='{payout.id}']")
    await expect(item).to_contain_text("Alice (id 21)")
    await expect(item).to_contain_text("$25.00")
    today = await page.locator("table.numbers td[data-period='today']").all_inner_texts()
    await item.locator("[data-action=approve]").click()

    await expect(page.locator(".payout")).to_have_count(0)
    assert await mine.locator("button.tab[data-tab='admin']").count() == 0
    assert today[3] == "1"  # the programme's conversions today
    assert (await PayoutRequest.get(id=payout.id)).status is PayoutStatus.APPROVED
    assert "Alice" in (await calls(page, "showConfirm"))[0][0]


async def test_an_admin_rejects_a_payout_with_a_reason_and_the_money_goes_back(
    miniapp: MiniApp, stack: Stack, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=ALICE, name="Alice")
    await earn(stack, factory, alice, 2500, "r1")
    payout = await stack.services.balance.request_payout(alice, "USD", "wallet-1")
    page = await miniapp.open(ADMIN_ID)
    await tab(page, "admin")

    await page.click(f".payout[data-payout='{payout.id}'] [data-action=reject]")
    await page.fill("textarea[name=reason]", "wrong wallet")
    await page.evaluate("window.__tg.pressMain()")

    await expect(page.locator("h1.title")).to_have_text("Programme")
    request = await PayoutRequest.get(id=payout.id)
    assert request.status is PayoutStatus.REJECTED and request.note == "wrong wallet"
    balances = await stack.services.balance.balances(alice.id)
    assert balances[0].available_minor == 2500


async def test_a_forged_or_stale_init_data_is_refused_on_screen_with_a_reason(
    miniapp: MiniApp, stack: Stack
) -> None:
    from tests.miniapp import init_data

    forged = init_data(ALICE).replace("Alice", "Mallory")
    page = await miniapp.open(ALICE, init=forged, ready="refused")
    stale = await miniapp.open(ALICE, age=3 * 86_400, ready="refused", language="ru")

    await expect(page.locator(".fatal")).to_contain_text(
        "This page must be opened from the bot in Telegram."
    )
    assert await page.locator("#tabs").is_hidden()
    await expect(stale.locator(".fatal")).to_contain_text("Сеанс истёк")
    await stale.get_by_role("button", name="Закрыть").click()
    assert await calls(stale, "close") == [[]]
    assert await Affiliate.filter(tg_id=ALICE).count() == 0


async def test_opening_through_startapp_credits_the_referral_and_asks_to_message(
    miniapp: MiniApp, factory: Factory
) -> None:
    referrer = await factory.affiliate(tg_id=30, name="Ref")
    code = (await factory.link(referrer)).code

    newcomer = await miniapp.open(31, start_param=code)
    starter = await miniapp.open(30, allows_write=True)

    assert await Referral.filter(referrer_id=referrer.id).count() == 1
    assert await eventually(lambda: calls(newcomer, "requestWriteAccess")) == [[]]
    await expect(newcomer.locator(".write-access")).to_be_visible()  # they said no
    assert await calls(starter, "requestWriteAccess") == []
    assert await starter.locator(".write-access").count() == 0


async def test_the_theme_follows_telegram_and_changes_live(miniapp: MiniApp) -> None:
    page = await miniapp.open(ALICE)
    light = await page.evaluate("getComputedStyle(document.body).backgroundColor")

    await page.evaluate(f"window.__tg.setTheme('dark', {DARK!r})".replace("'", '"', 0))
    dark = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    text = await page.evaluate("getComputedStyle(document.body).color")

    assert light == "rgb(239, 239, 243)"  # the light theme's secondary_bg_color
    assert dark == "rgb(21, 30, 39)" and text == "rgb(255, 255, 255)"
    assert await page.evaluate("document.documentElement.dataset.scheme") == "dark"
    names = await page.evaluate("window.__tg.names()")
    assert "ready" in names and "expand" in names


async def test_a_russian_user_sees_the_app_in_russian(miniapp: MiniApp) -> None:
    page = await miniapp.open(ALICE, language="ru")

    labels = await page.locator(".tab-label").all_inner_texts()

    assert labels == ["Сводка", "Ссылки", "Гонки", "Баланс"]
    assert (await main_button(page))["text"] == "Поделиться ссылкой"
    await expect(page.locator("h1.title")).to_have_text("Привет, Alice!")


async def test_empty_states_say_what_will_appear(miniapp: MiniApp) -> None:
    page = await miniapp.open(ALICE)

    await tab(page, "races")
    await expect(page.locator(".empty-title")).to_have_text("No races yet")
    await tab(page, "balance")
    await expect(page.locator(".empty-title").first).to_have_text("Nothing earned yet")
    await expect(page.locator(".empty-title").nth(1)).to_have_text("No history yet")
    assert not (await main_button(page))["visible"]


async def test_every_screen_in_light_and_dark_for_the_readme(
    miniapp: MiniApp, stack: Stack, factory: Factory
) -> None:
    alice = await alice_with_earnings(stack, factory)
    await stack.services.links.add_sublink(alice, "youtube")
    race = await stack.services.races.create(race_draft(title="Winter cup"))
    for n, name in enumerate(["Bob", "Carol", "Dan"]):
        someone = await factory.affiliate(tg_id=40 + n, name=name)
        for i in range(3 - n):
            await stack.services.referrals.register_start(
                await factory.affiliate(tg_id=50 + 10 * n + i), (await factory.link(someone)).code
            )
    await tick(stack)
    other = await factory.affiliate(tg_id=60, name="Eve", username="eve")
    await earn(stack, factory, other, 4000, "e1")
    await stack.services.balance.request_payout(other, "USD", "PayPal eve@example.com")

    for scheme in ("light", "dark"):
        page = await miniapp.open(ALICE, scheme=scheme, allows_write=True)
        await shoot(page, f"{scheme}-dashboard")
        await tab(page, "links")
        await expect(page.locator(".card.link").first).to_be_visible()
        await shoot(page, f"{scheme}-links")
        await page.locator(".card.link").nth(1).get_by_role("button", name="QR code").click()
        await expect(page.locator("img.qr")).to_be_visible()
        await shoot(page, f"{scheme}-link-qr")
        await tab(page, "races")
        await page.click(f".race-row[data-race='{race.id}']")
        await expect(page.locator(".live")).to_have_attribute("data-state", "live")
        await shoot(page, f"{scheme}-race-board")
        await tab(page, "balance")
        await expect(page.locator("li.history").first).to_be_visible()
        await shoot(page, f"{scheme}-balance")
        await page.evaluate("window.__tg.pressMain()")
        await expect(page.locator("textarea[name=details]")).to_be_visible()
        await shoot(page, f"{scheme}-payout-request")
        admin = await miniapp.open(ADMIN_ID, scheme=scheme, allows_write=True)
        await tab(admin, "admin")
        await expect(admin.locator(".payout")).to_have_count(1)
        await shoot(admin, f"{scheme}-admin")
        refused = await miniapp.open(ALICE, scheme=scheme, age=3 * 86_400, ready="refused")
        await shoot(refused, f"{scheme}-refused")
        await asyncio.gather(page.context.close(), admin.context.close(), refused.context.close())


async def test_under_telegrams_own_script_the_buttons_theme_and_write_access_work(
    miniapp: MiniApp, factory: Factory
) -> None:
    chromium_or_skip(real_script=True)
    await factory.affiliate(tg_id=ALICE, name="Alice")
    page = await miniapp.open_in_telegram(ALICE, scheme="dark")

    main = await posted(page, "web_app_setup_main_button")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    await receive(page, "main_button_pressed")
    shared = await eventually(lambda: posted(page, "web_app_switch_inline_query"))
    await page.click("button.tab[data-tab='links']")
    await page.locator(".card.link").first.get_by_role("button", name="QR code").click()
    await expect(page.locator("img.qr")).to_be_visible()
    back_shown = (await posted(page, "web_app_setup_back_button"))[-1]
    await receive(page, "back_button_pressed")
    await expect(page.locator("h1.title")).to_have_text("My links")
    back_hidden = (await posted(page, "web_app_setup_back_button"))[-1]
    await receive(page, "theme_changed", {"theme_params": LIGHT})
    relit = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    asked = await posted(page, "web_app_request_write_access")
    await receive(page, "write_access_requested", {"status": "allowed"})

    assert main[-1]["is_visible"] is True and main[-1]["text"] == "Share my link"
    assert background == "rgb(21, 30, 39)"  # the dark theme from the launch parameters
    assert shared == [{"query": "", "chat_types": ["users", "groups", "channels"]}]
    assert back_shown == {"is_visible": True} and back_hidden == {"is_visible": False}
    assert relit == "rgb(239, 239, 243)"
    assert len(asked) == 1
    await page.click("button.tab[data-tab='dashboard']")
    await expect(page.locator("h1.title")).to_have_text("Hi, Alice!")
    assert await page.locator(".write-access").count() == 0  # allowed: no more asking
    assert "web_app_ready" in [e["type"] for e in await page.evaluate("window.__posted")]


async def test_without_inline_mode_sharing_says_what_to_do_instead(
    miniapp: MiniApp, factory: Factory
) -> None:
    chromium_or_skip(real_script=True)
    page = await miniapp.open_in_telegram(ALICE, inline=False, allows_write=True)

    await receive(page, "main_button_pressed")

    await expect(page.locator("#toast")).to_contain_text("copy the link from Links")
    assert await posted(page, "web_app_switch_inline_query") == []
    assert await posted(page, "web_app_request_write_access") == []  # they started the bot


async def test_a_finished_race_shows_the_users_place_and_prize(
    miniapp: MiniApp, stack: Stack, factory: Factory
) -> None:
    race = await stack.services.races.create(race_draft(title="Autumn cup"))
    await tick(stack)
    alice = await factory.affiliate(tg_id=ALICE, name="Alice")
    await stack.services.referrals.register_start(
        await factory.affiliate(tg_id=23), (await factory.link(alice)).code
    )
    await tick(stack)
    await stack.services.races.finish_now(race.id)
    page = await miniapp.open(ALICE)

    await tab(page, "races")
    await expect(page.locator(".race-row .when")).to_contain_text("Finished")
    await page.click(f".race-row[data-race='{race.id}']")

    await expect(page.locator(".me-card.result .big")).to_have_text("🏆 $50.00 + Hoodie")
    await expect(page.locator(".me-card.result p")).not_to_be_empty()
    assert not (await main_button(page))["visible"]


async def test_a_race_gone_since_the_list_was_drawn_gets_a_designed_error_and_a_retry(
    miniapp: MiniApp, stack: Stack
) -> None:
    race = await stack.services.races.create(race_draft(title="Doomed cup"))
    await tick(stack)
    page = await miniapp.open(ALICE)
    await tab(page, "races")
    await expect(page.locator(f".race-row[data-race='{race.id}']")).to_be_visible()
    await stack.services.races.cancel(race.id)

    await page.click(f".race-row[data-race='{race.id}']")

    error = page.locator(".empty.error")
    await expect(error).to_contain_text(f"There is no race #{race.id}.")
    await expect(error.get_by_role("button", name="Try again")).to_be_visible()
    assert await back_visible(page)


async def test_a_server_out_of_reach_at_the_start_is_said_with_a_retry(
    miniapp: MiniApp, stack: Stack
) -> None:
    page = await miniapp.open(ALICE, language="ru")  # fully open: no request left in flight
    await page.context.route("**/api/session", lambda route: route.abort())

    await page.reload()

    await page.wait_for_selector("body[data-ready='unreachable']")
    await expect(page.locator(".fatal")).to_contain_text("Нет связи с сервером")
    await page.context.unroute("**/api/session")
    await page.get_by_role("button", name="Попробовать снова").click()
    await page.wait_for_selector("body[data-ready='dashboard']")


async def test_a_narrow_phone_shows_big_russian_numbers_without_sideways_scrolling(
    miniapp: MiniApp, stack: Stack, factory: Factory
) -> None:
    alice = await factory.affiliate(tg_id=ALICE, name="Alice")
    await earn(stack, factory, alice, 123_456_789, "big")
    page = await miniapp.open(ALICE, language="ru")

    await page.set_viewport_size({"width": 320, "height": 640})

    await expect(page.locator("td[data-period='today']").nth(5)).to_contain_text("1 234 567,89")
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow == 0
