"""My links, QR codes, sub-links and inline sharing, through the real Dispatcher."""

from aiogram.methods import AnswerCallbackQuery, SendChatAction, SendPhoto
from aiogram.types import BufferedInputFile, InlineQueryResultArticle

from keyboards.callbacks import LinkAction, LinkCallback, MenuAction, MenuCallback
from models import Affiliate, Link, OfferKind, SubLink
from tests.factories import Factory
from tests.stack import Stack

LINKS = MenuCallback(action=MenuAction.LINKS).pack()


async def test_my_links_shows_the_bot_link_and_one_per_offer(
    stack: Stack, factory: Factory
) -> None:
    alice = stack.tg.user(1, first_name="Alice")
    await alice.send("/start")
    await factory.offer("Casino", kind=OfferKind.URL)
    await factory.offer("Game bot", kind=OfferKind.BOT)

    reply = await alice.press(LINKS)
    again = await alice.press(LINKS)

    me = await Affiliate.get(tg_id=1)
    base = await Link.get(affiliate_id=me.id, offer_id=None)
    assert f"https://t.me/affrace_test_bot?start={base.code}" in reply.text
    assert "https://aff.example/r/" in reply.text and "Casino" in reply.text
    assert "🔗 Casino" in reply.buttons and "🔗 Game bot" in reply.buttons
    assert reply.text == again.text  # links are stable
    assert await Link.filter(affiliate_id=me.id).count() == 3


async def test_no_offers_yet_still_gives_the_bot_link(stack: Stack) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")

    reply = await alice.press(LINKS)

    assert "No offers are running right now" in reply.text
    assert "https://t.me/affrace_test_bot?start=" in reply.text


async def test_qr_code_is_a_png_of_the_link(stack: Stack) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")

    reply = await alice.press(LinkCallback(action=LinkAction.QR).pack())

    photo = next(r for r in reply.requests if isinstance(r, SendPhoto))
    assert isinstance(photo.photo, BufferedInputFile)
    assert photo.photo.data.startswith(b"\x89PNG")
    assert "https://t.me/affrace_test_bot?start=" in (photo.caption or "")
    actions = [r for r in reply.requests if isinstance(r, SendChatAction)]
    assert [a.action for a in actions[:1]] == ["upload_photo"]  # "sending photo…" while drawn


async def test_add_and_remove_a_sub_link_in_the_dialog(stack: Stack) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")
    await alice.press(LinkCallback(action=LinkAction.SUBS).pack())

    ask = await alice.press(LinkCallback(action=LinkAction.SUB_ADD).pack())
    sticker = await alice.send_sticker()
    bad = await alice.send("no spaces allowed!")
    added = await alice.send("YouTube")
    card = await alice.press(LinkCallback(action=LinkAction.SHOW).pack())
    confirm = await alice.press(added.button("youtube"))
    removed = await alice.press(confirm.button("Yes"))

    assert "Send me the label" in ask.text
    assert sticker.text == "Please send the label as text."
    assert "latin letters, digits and dashes" in bad.text
    assert "✅ Sub-link <code>youtube</code> added." in added.text
    assert "_youtube" in card.text  # the labelled link is listed with its numbers
    assert "Remove the sub-link" in confirm.text
    assert "You have no sub-links yet." in removed.text
    assert await SubLink.all().count() == 0


async def test_cancel_leaves_the_label_dialog(stack: Stack) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")
    await alice.press(LinkCallback(action=LinkAction.SUB_ADD).pack())

    await alice.press(LinkCallback(action=LinkAction.CANCEL).pack())
    after = await alice.send("youtube")

    assert "I work with buttons" in after.text
    assert await SubLink.all().count() == 0


async def test_stale_and_forged_buttons_get_a_polite_alert(stack: Stack, factory: Factory) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")
    other = await factory.affiliate()
    foreign = await factory.link(other, await factory.offer())

    forged = await alice.press("totally:forged:data")
    someone_elses = await alice.press(
        LinkCallback(action=LinkAction.SHOW, link_id=foreign.id).pack()
    )
    gone = await alice.press(LinkCallback(action=LinkAction.SUB_DEL_OK, label="ghost").pack())

    assert forged.alert == "This button is out of date. Open /menu for a fresh one."
    assert someone_elses.alert == "This offer is no longer available."
    assert gone.alert == "That sub-link does not exist any more."
    for reply in (forged, someone_elses, gone):
        assert [type(r) for r in reply.requests] == [AnswerCallbackQuery]


async def test_inline_mode_offers_the_affiliates_links_as_cards(
    stack: Stack, factory: Factory
) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")
    offer = await factory.offer("Casino")
    link = await factory.link(await Affiliate.get(tg_id=1), offer)

    reply = await alice.inline(link.code)

    results = reply.inline_answer.results
    assert isinstance(results[0], InlineQueryResultArticle)
    assert results[0].id == link.code
    assert f"https://aff.example/r/{link.code}" in results[0].input_message_content.message_text  # type: ignore[union-attr]
    assert reply.inline_answer.is_personal
    assert len(results) == 2


async def test_inline_mode_shares_a_sub_link_named_after_the_code_and_only_ones_own(
    stack: Stack, factory: Factory
) -> None:
    alice = stack.tg.user(1)
    await alice.send("/start")
    owner = await Affiliate.get(tg_id=1)
    link = await factory.link(owner, await factory.offer("Casino"))
    await stack.services.links.add_sublink(owner, "youtube")

    sub = await alice.inline(f"{link.code} youtube")
    unknown = await alice.inline(f"{link.code} tiktok")

    card = sub.inline_answer.results[0].input_message_content.message_text  # type: ignore[union-attr]
    plain = unknown.inline_answer.results[0].input_message_content.message_text  # type: ignore[union-attr]
    assert f"https://aff.example/r/{link.code}/youtube" in card
    assert plain.endswith(f"https://aff.example/r/{link.code}")  # no such label: the link
    assert "tiktok" not in plain
