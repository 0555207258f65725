import pytest

from bot.errors import Conflict, InvalidInput, NotFound
from bot.services.links import MAX_SUBLINKS, LinkService, LinkUrls
from models import Link, OfferKind
from tests.factories import Factory


async def test_offer_links_are_created_once_and_stay_stable(factory: Factory) -> None:
    aff = await factory.affiliate()
    await factory.offer("A")
    await factory.offer("B", kind=OfferKind.BOT)
    await factory.offer("Off", active=False)

    first = await LinkService().offer_links(aff)
    again = await LinkService().offer_links(aff)

    assert [v.title for v in first] == ["B", "A"]
    assert [v.code for v in first] == [v.code for v in again]
    assert await Link.filter(affiliate_id=aff.id).count() == 3  # the bot link + two offers


async def test_base_link_exists_from_registration(factory: Factory) -> None:
    aff = await factory.affiliate()

    view = await LinkService().base_link(aff)

    assert view.offer_id is None
    assert len(view.code) == 8


async def test_sublinks_add_list_remove_and_refuse_bad_labels(factory: Factory) -> None:
    aff = await factory.affiliate()
    links = LinkService()

    await links.add_sublink(aff, "YouTube")
    await links.add_sublink(aff, "channel-a")
    with pytest.raises(Conflict):
        await links.add_sublink(aff, "youtube")
    with pytest.raises(InvalidInput):
        await links.add_sublink(aff, "no spaces!")
    await links.remove_sublink(aff, "channel-a")

    assert await links.sublinks(aff) == ["youtube"]
    with pytest.raises(NotFound):
        await links.remove_sublink(aff, "channel-a")


async def test_sublinks_are_capped(factory: Factory) -> None:
    aff = await factory.affiliate()
    for i in range(MAX_SUBLINKS):
        await LinkService().add_sublink(aff, f"s{i}")

    with pytest.raises(Conflict):
        await LinkService().add_sublink(aff, "one-more")


async def test_someone_elses_link_id_is_not_found(factory: Factory) -> None:
    offer = await factory.offer()
    mine, theirs = await factory.affiliate(), await factory.affiliate()
    their_link = await factory.link(theirs, offer)

    with pytest.raises(NotFound):
        await LinkService().own_link(mine, their_link.id)


def test_link_urls_per_kind() -> None:
    urls = LinkUrls("https://aff.example", "my_bot", "app")

    assert urls.for_link("abc", None) == "https://t.me/my_bot?start=abc"
    assert urls.for_link("abc", OfferKind.BOT, "yt") == "https://t.me/my_bot?start=abc_yt"
    assert urls.for_link("abc", OfferKind.APP) == "https://t.me/my_bot/app?startapp=abc"
    assert urls.for_link("abc", OfferKind.URL, "yt") == "https://aff.example/r/abc/yt"
