"""Per-user notices outside a reply (new referrals, conversions, payout decisions): folded,
then queued in the outbox, which the paced sender delivers — one pipe, one pace and one
record of what was sent for everything the product sends on its own.

News waits in the database (rows with `notified_at` unset), so a restart loses none: a short
timer folds a burst into one message, and a scheduled sweep queues whatever a restart or
another instance left behind. Each notice has a key of its own in the outbox, so none is
queued twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from html import escape

from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import LockError

from bot.errors import outage
from bot.i18n import pick_language
from bot.services.affiliates import AffiliateService, reachable
from bot.services.amounts import format_money
from bot.services.balance import Adjustment, Payout
from bot.services.notices import ConversionNotice, ConversionNotices
from bot.services.outbox import Letter, OutboxService
from bot.services.referrals import ReferralNotice, ReferralService
from bot.telegram.render import person, review_reason
from bot.telegram.sender import OutboxSender
from models import Affiliate, Category, PayoutStatus

REFERRALS = "ref"
CONVERSIONS = "conv"


class Notifier:
    """Tells affiliates of new referrals and conversions, a burst folded into one message."""

    def __init__(
        self,
        i18n: I18n,
        redis: Redis,
        affiliates: AffiliateService,
        referrals: ReferralService,
        news: ConversionNotices,
        outbox: OutboxService,
        sender: OutboxSender,
        fold_delay: float,
    ) -> None:
        self.i18n = i18n
        self.outbox = outbox
        self.sender = sender
        self.redis = redis
        self.affiliates = affiliates
        self.referrals = referrals
        self.news = news
        self.fold_delay = fold_delay
        self._timers: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._again: set[tuple[str, int]] = set()

    def referral_credited(self, referrer_id: int) -> None:
        self._schedule(REFERRALS, referrer_id)

    def conversion_stored(self, affiliate_id: int) -> None:
        self._schedule(CONVERSIONS, affiliate_id)

    def _schedule(self, kind: str, affiliate_id: int) -> None:
        """One notice after the fold delay; what arrives meanwhile joins it."""
        timer = self._timers.get((kind, affiliate_id))
        if timer is not None and not timer.done():
            self._again.add((kind, affiliate_id))  # news during a flush gets its own round
            return
        task = asyncio.create_task(self._flush_later(kind, affiliate_id))
        self._timers[(kind, affiliate_id)] = task

    def _flusher(self, kind: str) -> Callable[[int], Awaitable[bool]]:
        return self.flush_referrals if kind == REFERRALS else self.flush_conversions

    async def _flush_later(self, kind: str, affiliate_id: int) -> None:
        key = (kind, affiliate_id)
        try:
            while True:
                await asyncio.sleep(self.fold_delay)
                self._again.discard(key)
                await self._flusher(kind)(affiliate_id)
                if key not in self._again:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            down = outage(exc)
            if down is not None:
                logger.warning(
                    "{} notice for {} waits: the {} is unavailable; the sweep will retry",
                    kind,
                    affiliate_id,
                    down,
                )
            else:
                logger.exception(
                    "{} notice for {} failed; the sweep will retry", kind, affiliate_id
                )
        finally:
            self._timers.pop(key, None)
            self._again.discard(key)

    async def _locked(
        self, kind: str, affiliate_id: int, send: Callable[[], Awaitable[bool]]
    ) -> bool:
        lock = self.redis.lock(f"lock:notice:{kind}:{affiliate_id}", timeout=60)
        if not await lock.acquire(blocking=False):
            return False
        try:
            return await send()
        finally:
            with contextlib.suppress(LockError):
                await lock.release()

    async def flush_referrals(self, referrer_id: int) -> bool:
        """Queue the waiting referrals as one message; True if one was queued.

        Either way they are marked told, so nothing is sent twice.
        """

        async def send() -> bool:
            notice = await self.referrals.pending_notice(referrer_id)
            if notice is None:
                return False
            sent = False
            if notice.wants_news:  # notifications off, or the bot is blocked: skip quietly
                sent = await self.send(
                    f"ref:{referrer_id}:{notice.last_id}",
                    notice.referrer_tg_id,
                    self._render_referrals(notice),
                )
            await self.referrals.mark_notified(referrer_id, notice.last_id)
            return sent

        return await self._locked(REFERRALS, referrer_id, send)

    async def flush_conversions(self, affiliate_id: int) -> bool:
        """Queue the waiting conversions as one message (a line each); True if queued."""

        async def send() -> bool:
            news = await self.news.pending_conversions(affiliate_id)
            if news is None:
                return False
            sent = False
            if news.wants_news:
                sent = await self.send(
                    f"conv:{affiliate_id}:{news.last_id}",
                    news.tg_id,
                    self._render_conversions(news),
                )
            await self.news.mark_conversions_told(affiliate_id, news.last_id)
            return sent

        return await self._locked(CONVERSIONS, affiliate_id, send)

    async def flush_pending(self, affiliate_id: int) -> None:
        """Queue now whatever notice of this affiliate is still folding (news about to be
        queued must not overtake what caused it); the fold timer then finds nothing."""
        await self.flush_conversions(affiliate_id)
        await self.flush_referrals(affiliate_id)

    async def sweep(self) -> int:
        """Queue every notice left behind (a restart, another instance); nothing twice."""
        sent = 0
        age = timedelta(seconds=self.fold_delay + 5)
        for kind, waiting in (
            (REFERRALS, await self.referrals.referrers_waiting(age)),
            (CONVERSIONS, await self.news.affiliates_waiting(age)),
        ):
            for affiliate_id in waiting:
                if (kind, affiliate_id) not in self._timers:
                    sent += await self._flusher(kind)(affiliate_id)
        return sent

    def _locale(self, language: str | None, tg_language: str | None) -> str:
        return pick_language(language, tg_language)

    def _render_referrals(self, notice: ReferralNotice) -> str:
        locale = self._locale(notice.referrer_language, notice.referrer_tg_language)
        with self.i18n.context(), self.i18n.use_locale(locale):
            total = notice.total
            subs = notice.subs or [None] * len(notice.names)
            via = _("via {sub}")
            names = ", ".join(
                escape(n) + (f" ({via.format(sub=f'<code>{escape(s)}</code>')})" if s else "")
                for n, s in zip(notice.names, subs, strict=True)
            )
            if total == 1:
                if subs[0]:
                    return _(
                        "🎉 New referral: <b>{name}</b> joined through your sub-link "
                        "<code>{sub}</code>!"
                    ).format(name=escape(notice.names[0]), sub=escape(subs[0]))
                return _("🎉 New referral: <b>{name}</b> joined through your link!").format(
                    name=names
                )
            text = ngettext(
                "🎉 {count} new referral joined through your links: {names}",
                "🎉 {count} new referrals joined through your links: {names}",
                total,
            ).format(count=total, names=names)
            more = total - len(notice.names)
            if more > 0:
                text += " " + _("and {more} more").format(more=more)
            return text

    def _render_conversions(self, news: ConversionNotice) -> str:
        locale = self._locale(news.language, news.tg_language)
        with self.i18n.context(), self.i18n.use_locale(locale):
            lines = [_("💸 New conversions:") if news.total > 1 else _("💸 New conversion:")]
            for item in news.items:
                money = format_money(item.commission_minor, item.currency, locale)
                line = f"+{money} — {escape(item.event)} — {escape(item.offer_title)}"
                if item.pending:
                    line += " " + _("(pending)")
                lines.append(line)
            more = news.total - len(news.items)
            if more > 0:
                lines.append(_("and {more} more").format(more=more))
            return "\n".join(lines)

    async def payout_decided(self, payout: Payout) -> bool:
        """Tell the affiliate what became of their payout request."""
        affiliate = await self.affiliates.get(payout.affiliate_id)
        locale = self._locale(affiliate.language, affiliate.tg_language)
        with self.i18n.context(), self.i18n.use_locale(locale):
            money = format_money(payout.amount_minor, payout.currency, locale)
            if payout.status is PayoutStatus.APPROVED:
                text = _("✅ Your payout of {amount} was approved and is on its way.")
            else:
                text = _(
                    "❌ Your payout request of {amount} was declined; the money is back on "
                    "your balance."
                )
            text = text.format(amount=money)
            if payout.note:
                text += "\n" + _("Reason: {reason}").format(reason=escape(payout.note))
            key = f"payout:{payout.id}:{payout.status.value}"
            return await self.send(key, affiliate.tg_id, text)

    async def payout_paid(self, payout: Payout) -> bool:
        """Tell the affiliate their money was sent, with the transfer's reference."""
        affiliate = await self.affiliates.get(payout.affiliate_id)
        locale = self._locale(affiliate.language, affiliate.tg_language)
        with self.i18n.context(), self.i18n.use_locale(locale):
            text = _("💸 Your payout of {amount} was sent. Reference: {reference}").format(
                amount=format_money(payout.amount_minor, payout.currency, locale),
                reference=escape(payout.reference),
            )
            return await self.send(f"payout:{payout.id}:paid", affiliate.tg_id, text)

    async def ban_changed(self, affiliate: Affiliate, serial: int) -> bool:
        """Tell an affiliate they were banned (and why) or let back in. Always told."""
        locale = self._locale(affiliate.language, affiliate.tg_language)
        with self.i18n.context(), self.i18n.use_locale(locale):
            if affiliate.is_banned:
                text = _(
                    "⛔ Your access to the programme is suspended: your links no longer count "
                    "and payouts are on hold.\nReason: {reason}"
                ).format(reason=escape(affiliate.ban_reason))
            else:
                text = _("✅ Your access to the programme is restored. Welcome back!")
            state = "ban" if affiliate.is_banned else "unban"
            return await self.send(f"{state}:{affiliate.id}:{serial}", affiliate.tg_id, text)

    async def held_for_review(
        self, conversion_id: int, why: str, admin_ids: frozenset[int]
    ) -> int:
        """Tell the admins (who did not turn it off) of a conversion held for their review."""
        told = 0
        for admin in await self.affiliates.admins(admin_ids):
            if not reachable(admin, Category.ADMIN):
                continue
            locale = self._locale(admin.language, admin.tg_language)
            with self.i18n.context(), self.i18n.use_locale(locale):
                text = _(
                    "🔎 Conversion #{id} is held for your review: {why}. See /reviews"
                ).format(id=conversion_id, why=review_reason(why))
            told += await self.send(
                f"review:{conversion_id}:admin{admin.tg_id}", admin.tg_id, text
            )
        return told

    async def payout_requested(self, payout: Payout, admin_ids: frozenset[int]) -> int:
        """Tell the admins (who did not turn it off) of a new payout request."""
        told = 0
        for admin in await self.affiliates.admins(admin_ids):
            if not reachable(admin, Category.ADMIN):
                continue
            locale = self._locale(admin.language, admin.tg_language)
            with self.i18n.context(), self.i18n.use_locale(locale):
                text = _("💸 New payout request #{id}: {amount} from {who}. See /payouts").format(
                    id=payout.id,
                    amount=format_money(payout.amount_minor, payout.currency, locale),
                    who=person(
                        payout.affiliate_name, payout.affiliate_username, payout.affiliate_tg_id
                    ),
                )
            told += await self.send(f"payout:{payout.id}:admin{admin.tg_id}", admin.tg_id, text)
        return told

    async def adjusted(self, adjustment: Adjustment) -> bool:
        """Tell the affiliate of a manual correction: the amount, the reason, the balance.
        Money is always told, whatever their notification settings."""
        affiliate = await self.affiliates.get(adjustment.affiliate_id)
        locale = self._locale(affiliate.language, affiliate.tg_language)
        with self.i18n.context(), self.i18n.use_locale(locale):
            amount = format_money(adjustment.amount_minor, adjustment.currency, locale)
            if adjustment.amount_minor > 0:
                amount = "+" + amount
            text = _(
                "💼 Your balance was adjusted by {amount}.\nReason: {reason}\nAvailable now: "
                "{balance}"
            ).format(
                amount=amount,
                reason=escape(adjustment.note),
                balance=format_money(adjustment.balance_minor, adjustment.currency, locale),
            )
            return await self.send(f"adjust:{adjustment.entry_id}", affiliate.tg_id, text)

    async def send(self, key: str, chat_id: int, text: str) -> bool:
        """Queue one message in the outbox (once per key) and wake the sender."""
        queued = await self.outbox.enqueue([Letter(key, chat_id, text, bulk=False)])
        self.sender.wake()
        return queued > 0

    async def close(self) -> None:
        for timer in list(self._timers.values()):
            timer.cancel()
        await asyncio.gather(*self._timers.values(), return_exceptions=True)
