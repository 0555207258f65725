from bot.services.referrals import ReferralService
from models import Affiliate, Referral
from tests.factories import Factory


async def test_first_start_through_a_link_credits_the_referrer(factory: Factory) -> None:
    referrer = await factory.affiliate(name="Rita")
    link = await factory.link(referrer)
    newcomer = await factory.affiliate(name="Nick")

    outcome = await ReferralService().register_start(newcomer, link.code)

    assert outcome.first_start
    assert outcome.referrer_id == referrer.id
    assert await ReferralService().count_for(referrer.id) == 1


async def test_second_start_with_another_code_changes_nothing(factory: Factory) -> None:
    first, second = await factory.affiliate(), await factory.affiliate()
    newcomer = await factory.affiliate()
    await ReferralService().register_start(newcomer, (await factory.link(first)).code)

    outcome = await ReferralService().register_start(newcomer, (await factory.link(second)).code)

    assert outcome.refused == "repeat"
    assert await Referral.filter(referred_id=newcomer.id).values_list(
        "referrer_id", flat=True
    ) == [first.id]


async def test_user_who_started_without_a_code_is_not_credited_later(factory: Factory) -> None:
    referrer = await factory.affiliate()
    newcomer = await factory.affiliate()
    await ReferralService().register_start(newcomer, None)

    outcome = await ReferralService().register_start(newcomer, (await factory.link(referrer)).code)

    assert outcome.refused == "repeat"
    assert await Referral.all().count() == 0


async def test_own_code_is_refused(factory: Factory) -> None:
    me = await factory.affiliate()

    outcome = await ReferralService().register_start(me, (await factory.link(me)).code)

    assert outcome.refused == "self"
    assert await Referral.all().count() == 0


async def test_disabled_offer_link_and_banned_referrer_are_not_credited(factory: Factory) -> None:
    offer = await factory.offer(active=False)
    owner = await factory.affiliate()
    banned = await factory.affiliate(is_banned=True)
    a, b = await factory.affiliate(), await factory.affiliate()

    off = await ReferralService().register_start(a, (await factory.link(owner, offer)).code)
    ban = await ReferralService().register_start(b, (await factory.link(banned)).code)

    assert (off.refused, ban.refused) == ("unknown", "banned")
    assert await Referral.all().count() == 0


async def test_sub_label_is_kept_only_when_the_affiliate_has_it(factory: Factory) -> None:
    from bot.services.links import LinkService

    referrer = await factory.affiliate()
    await LinkService().add_sublink(referrer, "youtube")
    code = (await factory.link(referrer)).code
    a, b = await factory.affiliate(), await factory.affiliate()

    await ReferralService().register_start(a, f"{code}_youtube")
    await ReferralService().register_start(b, f"{code}_removed")

    subs = await Referral.all().order_by("id").values_list("sub", flat=True)
    assert subs == ["youtube", None]


async def test_pending_notice_folds_all_waiting_referrals(factory: Factory) -> None:
    referrer = await factory.affiliate()
    code = (await factory.link(referrer)).code
    for name in ("Ann", "Ben", "<b>Cy</b>"):
        await ReferralService().register_start(await factory.affiliate(name=name), code)

    notice = await ReferralService().pending_notice(referrer.id)
    assert notice is not None
    await ReferralService().mark_notified(referrer.id, notice.last_id)

    assert notice.total == 3
    assert notice.names == ["Ann", "Ben", "<b>Cy</b>"]
    assert await ReferralService().pending_notice(referrer.id) is None
    assert await Affiliate.filter(started_at__isnull=False).count() == 3
