"""The admin panel's texts: an affiliate's card, payout queues, admins, the audit log. In the
admin's language; people's words escaped for HTML."""

from __future__ import annotations

from datetime import datetime, tzinfo
from html import escape

from aiogram.utils.i18n import gettext as _
from babel.dates import format_datetime

from bot.services.admin_desk import AffiliateCard
from bot.services.amounts import format_money
from bot.services.audit import AuditLine
from bot.services.balance import Payout
from bot.telegram.render import person
from models import Affiliate


def who(a: Affiliate) -> str:
    return person(a.display_name, a.username, a.tg_id)


def when(moment: datetime, zone: tzinfo, locale: str) -> str:
    return str(format_datetime(moment, "d MMM yyyy, HH:mm", tzinfo=zone, locale=locale))


def card_text(card: AffiliateCard, zone: tzinfo, locale: str) -> str:
    a, t = card.affiliate, card.totals
    lines = [
        f"👤 <b>{who(a)}</b>",
        _("Affiliate #{id}, since {date}").format(id=a.id, date=when(a.created_at, zone, locale)),
    ]
    if card.is_config_admin or a.is_admin:
        lines.append(_("🛡 Admin"))
    if a.is_banned:
        lines.append(_("⛔ Banned: {reason}").format(reason=escape(a.ban_reason)))
    lines.append("")
    lines.append(
        _("Clicks {clicks} · referrals {referrals} · conversions {conversions}").format(
            clicks=t.clicks, referrals=t.referrals, conversions=t.conversions
        )
    )
    earned = ", ".join(format_money(m, c, locale) for c, m in sorted(t.earnings.items()))
    lines.append(_("Earned: {amount}").format(amount=earned or "—"))
    held = ", ".join(format_money(b.available_minor, b.currency, locale) for b in card.balances)
    lines.append(_("Balance: {amount}").format(amount=held or "—"))
    lines.append(_("Links: {count}").format(count=card.links))
    referrer = who(card.referrer) if card.referrer else _("nobody")
    lines.append(_("Referred by: {who}").format(who=referrer))
    return "\n".join(lines)


def payout_line(p: Payout, held_minor: int, locale: str) -> str:
    return (
        f"<b>#{p.id}</b> · {person(p.affiliate_name, p.affiliate_username, p.affiliate_tg_id)}"
        f" · {format_money(p.amount_minor, p.currency, locale)}\n"
        + _("    balance {amount}").format(amount=format_money(held_minor, p.currency, locale))
        + f" · <code>{escape(p.details)}</code>"
    )


def change(before: dict[str, object] | None, after: dict[str, object] | None) -> str:
    """ "status: open → rejected, note: wrong wallet" """
    before, after = before or {}, after or {}
    parts = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in before and key in after:
            parts.append(f"{key}: {old} → {new}")
        else:
            parts.append(f"{key}: {new if key in after else old}")
    return escape(", ".join(parts))


def audit_text(lines: list[AuditLine], page: int, zone: tzinfo, locale: str) -> str:
    if not lines:
        return _("📜 <b>Audit</b>\n\nNo admin action recorded yet.")
    head = _("📜 <b>Audit</b>, newest first (page {page})").format(page=page + 1)
    body = [
        f"{when(e.at, zone, locale)} · {escape(e.actor)} (id {e.actor_tg_id})\n"
        f"    <b>{escape(e.action)}</b> {escape(e.target)}"
        + (f"\n    {change(e.before, e.after)}" if e.before or e.after else "")
        for e in lines
    ]
    return head + "\n\n" + "\n".join(body)
