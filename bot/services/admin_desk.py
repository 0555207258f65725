"""What admins do, from every surface (the chat's panel and its command shortcuts, the Mini
App's Admin tab): each action goes through the service that owns its rule and is written to
the audit log with the state before and after."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.errors import N_, Conflict, InvalidInput, NotFound
from bot.services.audit import Actor, AuditLog, offer_state
from bot.services.balance import Adjustment, Balance, BalanceService, Payout
from bot.services.codes import read_code
from bot.services.inputs import ascii_int, has_control
from bot.services.offers import OfferPatch, OfferService, RateChange
from bot.services.stats import Period, Row, StatsService
from models import Affiliate, AffiliateRate, Link, Offer, Referral

FOUND_MAX = 10
REASON_MAX = 256


@dataclass(frozen=True, slots=True)
class AffiliateCard:
    """An affiliate as an admin looks them up."""

    affiliate: Affiliate
    totals: Row
    links: int
    balances: list[Balance]
    referrer: Affiliate | None
    is_config_admin: bool


def clean_reason(raw: str) -> str:
    reason = " ".join(raw.split())
    if len(reason) > REASON_MAX:
        raise InvalidInput(N_("A reason is at most {size} characters."), size=REASON_MAX)
    if has_control(reason):  # a NUL above all: PostgreSQL refuses it in text
        raise InvalidInput(N_("A reason is plain text on one line."))
    return reason


class AdminDesk:
    def __init__(
        self,
        admin_ids: frozenset[int],
        balance: BalanceService,
        stats: StatsService,
        audit: AuditLog,
        offers: OfferService,
    ) -> None:
        self.admin_ids = admin_ids
        self.balance = balance
        self.stats = stats
        self.audit = audit
        self.offers = offers
        self.forget_links = lambda: None  # the click redirect's cache of links (wired)

    # -- who is an admin -------------------------------------------------------------------

    def is_admin(self, user: Affiliate) -> bool:
        return user.tg_id in self.admin_ids or user.is_admin

    async def admins(self) -> list[tuple[int, Affiliate | None]]:
        """Every admin: those of the configuration (known to the bot or not) and the promoted,
        by Telegram id."""
        known = {
            a.tg_id: a
            for a in await Affiliate.filter(Q(tg_id__in=self.admin_ids) | Q(is_admin=True))
        }
        ids = sorted(set(self.admin_ids) | set(known))
        return [(tg, known.get(tg)) for tg in ids]

    async def promote(self, actor: Affiliate, tg_id: int) -> Affiliate:
        person = await self._person(tg_id)
        if self.is_admin(person):
            raise Conflict(N_("{name} is already an admin."), name=person.display_name)
        await Affiliate.filter(id=person.id).update(is_admin=True)
        person.is_admin = True
        await self.audit.record(
            Actor.of(actor), "admin.promote", f"tg {tg_id}", {"admin": False}, {"admin": True}
        )
        return person

    async def demote(self, actor: Affiliate, tg_id: int) -> Affiliate:
        if tg_id == actor.tg_id:
            raise Conflict(N_("You cannot remove yourself: ask another admin."))
        if tg_id in self.admin_ids:
            raise Conflict(
                N_("{id} is an admin by the configuration (ADMIN_IDS): change it there."),
                id=tg_id,
            )
        person = await self._person(tg_id)
        if not person.is_admin:
            raise Conflict(N_("{name} is not an admin."), name=person.display_name)
        await Affiliate.filter(id=person.id).update(is_admin=False)
        person.is_admin = False
        await self.audit.record(
            Actor.of(actor), "admin.demote", f"tg {tg_id}", {"admin": True}, {"admin": False}
        )
        return person

    # -- affiliates ------------------------------------------------------------------------

    async def find(self, query: str) -> list[Affiliate]:
        """By Telegram id, @username, link code or a part of the name; ten at most."""
        text = " ".join(query.split())[:64]
        if not text or has_control(text):  # PostgreSQL takes no NUL in a query either
            return []
        number = ascii_int(text)
        if number is not None:
            return await Affiliate.filter(Q(tg_id=number) | Q(id=number)).limit(FOUND_MAX)
        if text.startswith("@"):
            return await Affiliate.filter(username__iexact=text[1:]).limit(FOUND_MAX)
        code = read_code(text)  # anything longer than a code would not fit the column
        if code is not None:
            link = await Link.get_or_none(code=code).select_related("affiliate")
            if link is not None:
                return [link.affiliate]
        return (
            await Affiliate.filter(
                Q(first_name__icontains=text)
                | Q(last_name__icontains=text)
                | Q(username__icontains=text)
            )
            .order_by("id")
            .limit(FOUND_MAX)
        )

    async def card(self, affiliate_id: int) -> AffiliateCard:
        person = await Affiliate.get_or_none(id=affiliate_id)
        if person is None:
            raise NotFound(N_("There is no affiliate #{id}."), id=affiliate_id)
        report = await self.stats.report(person.id, Period.ALL)
        referral = await Referral.get_or_none(referred_id=person.id).select_related("referrer")
        return AffiliateCard(
            person,
            report.total,
            await Link.filter(affiliate_id=person.id).count(),
            await self.balance.balances(person.id),
            referral.referrer if referral is not None else None,
            person.tg_id in self.admin_ids,
        )

    async def assign_referrer(
        self, actor: Affiliate, affiliate_id: int, raw: str
    ) -> tuple[Affiliate, Affiliate]:
        """Make someone (a Telegram id or one of their link codes, then the reason) the
        referrer of an affiliate, replacing whoever was; for second-level shares from now
        on. Races are not rescored: the referral did not happen now."""
        who, _sep, reason = " ".join(raw.split()).partition(" ")
        reason = clean_reason(reason)
        if not who or not reason:
            raise InvalidInput(
                N_(
                    "Send the referrer's Telegram id or link code, then the reason: e.g. "
                    "123456789 came through their channel before the bot existed"
                )
            )
        person = (await self.card(affiliate_id)).affiliate
        referrer = await self._referrer(who)
        if referrer.id == person.id:
            raise Conflict(N_("Nobody can be their own referrer."))
        if await Referral.exists(referrer_id=person.id, referred_id=referrer.id):
            raise Conflict(
                N_("{name} was referred by them: a loop is not allowed."),
                name=referrer.display_name,
            )
        link = await Link.get(affiliate_id=referrer.id, offer_id=None)
        before = await Referral.get_or_none(referred_id=person.id)
        async with in_transaction():
            if before is not None:
                await Referral.filter(id=before.id).delete()
            await Referral.create(referrer_id=referrer.id, referred_id=person.id, link=link)
        await self.audit.record(
            Actor.of(actor),
            "referral.assign",
            f"affiliate #{person.id}",
            {"referrer_id": before.referrer_id if before else None},
            {"referrer_id": referrer.id, "reason": reason},
        )
        return person, referrer

    async def _referrer(self, who: str) -> Affiliate:
        number = ascii_int(who)
        if number is not None:
            found = await Affiliate.get_or_none(tg_id=number)
        else:
            code = read_code(who)  # anything else (too long, not ASCII) is nobody's code
            link = None
            if code is not None:
                link = await Link.get_or_none(code=code).select_related("affiliate")
            found = link.affiliate if link is not None else None
        if found is None:
            raise NotFound(N_("Nobody has the Telegram id or link code {who}."), who=who[:32])
        return found

    async def ban(self, actor: Affiliate, affiliate_id: int, reason: str) -> Affiliate:
        """From now on their links count nothing (a click still redirects), their postbacks
        are refused and the bot serves them nothing but the reason."""
        reason = clean_reason(reason)
        if not reason:
            raise InvalidInput(N_("Say why: the affiliate is told the reason."))
        person = (await self.card(affiliate_id)).affiliate
        if self.is_admin(person):
            raise Conflict(N_("An admin cannot be banned: remove them as an admin first."))
        if person.is_banned:
            raise Conflict(N_("{name} is already banned."), name=person.display_name)
        await Affiliate.filter(id=person.id).update(is_banned=True, ban_reason=reason)
        person.is_banned, person.ban_reason = True, reason
        self.forget_links()
        await self.audit.record(
            Actor.of(actor),
            "affiliate.ban",
            f"affiliate #{person.id}",
            {"banned": False},
            {"banned": True, "reason": reason},
        )
        return person

    async def unban(self, actor: Affiliate, affiliate_id: int) -> Affiliate:
        person = (await self.card(affiliate_id)).affiliate
        if not person.is_banned:
            raise Conflict(N_("{name} is not banned."), name=person.display_name)
        before = {"banned": True, "reason": person.ban_reason}
        await Affiliate.filter(id=person.id).update(is_banned=False, ban_reason="")
        person.is_banned, person.ban_reason = False, ""
        self.forget_links()
        await self.audit.record(
            Actor.of(actor),
            "affiliate.unban",
            f"affiliate #{person.id}",
            before,
            {"banned": False},
        )
        return person

    # -- payouts ---------------------------------------------------------------------------

    async def decide_payout(
        self, actor: Affiliate, payout_id: int, approve: bool, note: str = ""
    ) -> Payout:
        payout = await self.balance.decide(payout_id, approve, note)
        await self.audit.record(
            Actor.of(actor),
            "payout.approve" if approve else "payout.reject",
            f"payout #{payout_id}",
            {"status": "open"},
            {"status": payout.status.value, "note": payout.note},
        )
        return payout

    async def mark_paid(self, actor: Affiliate, payout_id: int, reference: str) -> Payout:
        payout = await self.balance.mark_paid(payout_id, clean_reason(reference))
        await self.audit.record(
            Actor.of(actor),
            "payout.paid",
            f"payout #{payout_id}",
            {"status": "approved"},
            {"status": "paid", "reference": reference},
        )
        return payout

    async def adjust(
        self, actor: Affiliate, tg_id: int, amount: str, currency: str, note: str
    ) -> Adjustment:
        done = await self.balance.adjust(tg_id, amount, currency, note)
        await self.audit.record(
            Actor.of(actor),
            "balance.adjust",
            f"tg {tg_id}",
            None,
            {"amount_minor": done.amount_minor, "currency": done.currency, "note": note},
        )
        return done

    async def set_rate(
        self, actor: Affiliate, tg_id: int, offer_id: int, change: RateChange | None
    ) -> AffiliateRate | None:
        """An affiliate's own payout or RevShare on one offer (None: the offer's again)."""
        rate = await self.offers.set_rate(tg_id, offer_id, change)
        await self.audit.record(
            Actor.of(actor),
            "rate.set" if change is not None else "rate.clear",
            f"tg {tg_id} · offer #{offer_id}",
            None,
            asdict(change) if change is not None else None,
        )
        return rate

    async def edit_offer(self, actor: Affiliate, offer_id: int, patch: OfferPatch) -> Offer:
        before = await self.offers.get(offer_id)
        offer = await self.offers.update(offer_id, patch)
        await self.audit.record(
            Actor.of(actor),
            "offer.edit",
            f"offer #{offer.id}",
            offer_state(before),
            offer_state(offer),
        )
        return offer

    async def set_offer_active(self, actor: Affiliate, offer_id: int, active: bool) -> Offer:
        was = (await self.offers.get(offer_id)).is_active
        offer = await self.offers.set_active(offer_id, active)
        await self.audit.record(
            Actor.of(actor),
            "offer.active",
            f"offer #{offer.id}",
            {"active": was},
            {"active": offer.is_active},
        )
        return offer

    async def _person(self, tg_id: int) -> Affiliate:
        person = await Affiliate.get_or_none(tg_id=tg_id)
        if person is None:
            raise NotFound(N_("Nobody with Telegram id {id} has started the bot yet."), id=tg_id)
        return person
