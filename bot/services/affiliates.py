"""Affiliates: who they are, their settings, and registration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.i18n import LANGUAGES
from bot.services.codes import new_code
from models import Affiliate, Category, Link


@dataclass(frozen=True, slots=True)
class Profile:
    """What Telegram tells us about a user on every update."""

    tg_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


def reachable(affiliate: Affiliate | None, category: Category | None = None) -> bool:
    """Whether a message may be sent: they have not blocked the bot and, for news of a
    `category`, have not turned it off. Money (no category) is always told."""
    if affiliate is None or affiliate.blocked_at is not None:
        return False
    return category is None or not affiliate.mutes(category)


SEEN_EVERY = timedelta(hours=1)


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None


class AffiliateService:
    """Loads, creates and updates affiliates; every new one gets their own bot link."""

    async def load_or_create(self, profile: Profile) -> tuple[Affiliate, bool]:
        """The affiliate for this Telegram user, created with a base link on first sight."""
        affiliate = await Affiliate.get_or_none(tg_id=profile.tg_id)
        if affiliate is None:
            try:
                return await self._create(profile), True
            except IntegrityError:  # a concurrent update from the same new user won
                affiliate = await Affiliate.get(tg_id=profile.tg_id)
        await self._refresh(affiliate, profile)
        return affiliate, False

    async def _create(self, profile: Profile) -> Affiliate:
        async with in_transaction():
            affiliate = await Affiliate.create(
                tg_id=profile.tg_id,
                first_name=_clip(profile.first_name, 128) or "",
                last_name=_clip(profile.last_name, 128),
                username=_clip(profile.username, 64),
                tg_language=_clip(profile.language_code, 16),
                seen_at=datetime.now(UTC),
            )
            await create_link(affiliate, None)
        return affiliate

    async def _refresh(self, affiliate: Affiliate, profile: Profile) -> None:
        fresh = {
            "first_name": _clip(profile.first_name, 128) or "",
            "last_name": _clip(profile.last_name, 128),
            "username": _clip(profile.username, 64),
            "tg_language": _clip(profile.language_code, 16),
        }
        changed = [k for k, v in fresh.items() if getattr(affiliate, k) != v]
        if affiliate.blocked_at is not None:
            affiliate.blocked_at = None  # they are talking to us again
            changed.append("blocked_at")
        now = datetime.now(UTC)
        if affiliate.seen_at is None or now - affiliate.seen_at >= SEEN_EVERY:
            affiliate.seen_at = now  # "active in the last N days" (broadcasts), to the hour
            changed.append("seen_at")
        if changed:
            for key in changed:
                if key in fresh:
                    setattr(affiliate, key, fresh[key])
            await affiliate.save(update_fields=[*changed, "updated_at"])

    async def get(self, affiliate_id: int) -> Affiliate:
        return await Affiliate.get(id=affiliate_id)

    async def admins(self, admin_ids: frozenset[int]) -> list[Affiliate]:
        """The admins who have started the bot (the others have no chat to write to): those
        of the configuration and those an admin promoted."""
        return await Affiliate.filter(Q(tg_id__in=admin_ids) | Q(is_admin=True)).order_by("tg_id")

    async def mark_started(self, affiliate: Affiliate) -> bool:
        """Record the first /start; True only for the one call that did it."""
        now = datetime.now(UTC)
        updated = await Affiliate.filter(id=affiliate.id, started_at__isnull=True).update(
            started_at=now
        )
        if updated:
            affiliate.started_at = now
        return bool(updated)

    async def set_language(self, affiliate: Affiliate, language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(language)
        affiliate.language = language
        await affiliate.save(update_fields=["language", "updated_at"])

    async def set_timezone(self, affiliate: Affiliate, name: str) -> None:
        affiliate.timezone = name
        await affiliate.save(update_fields=["timezone", "updated_at"])

    async def set_muted(self, affiliate: Affiliate, category: Category, muted: bool) -> None:
        """Turn one category of news off (muted) or on again."""
        kept = {c for c in affiliate.muted.split(",") if c and c != category.value}
        if muted:
            kept.add(category.value)
        affiliate.muted = ",".join(sorted(kept))
        await affiliate.save(update_fields=["muted", "updated_at"])

    async def mark_blocked(self, tg_id: int) -> None:
        """The user blocked the bot: stop sending to them until they come back."""
        await Affiliate.filter(tg_id=tg_id, blocked_at__isnull=True).update(
            blocked_at=datetime.now(UTC)
        )


async def create_link(affiliate: Affiliate, offer_id: int | None) -> Link:
    """A new link with a fresh code, retrying the rare code collision."""
    for _ in range(5):
        code = new_code()
        if not await Link.exists(code=code):
            return await Link.create(affiliate=affiliate, offer_id=offer_id, code=code)
    raise RuntimeError("could not find a free referral code")
