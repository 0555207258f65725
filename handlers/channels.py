"""Channel offers: joins and leaves seen in chat_member updates, and invite links on demand."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import ChatMemberUpdated
from loguru import logger

from bot.notifier import Notifier
from bot.services.channels import ChannelService, InviteNeed
from bot.services.conversions import Verdict

router = Router(name=__name__)

INSIDE = {
    ChatMemberStatus.MEMBER,
    ChatMemberStatus.ADMINISTRATOR,
    ChatMemberStatus.CREATOR,
    ChatMemberStatus.RESTRICTED,
}


@router.chat_member()
async def member_changed(
    event: ChatMemberUpdated, channels: ChannelService, notifier: Notifier
) -> None:
    was_in = event.old_chat_member.status in INSIDE
    is_in = event.new_chat_member.status in INSIDE
    user_id = event.new_chat_member.user.id
    if not was_in and is_in:
        invite = event.invite_link.invite_link if event.invite_link else None
        answer = await channels.joined(event.chat.id, user_id, invite)
        if answer is not None and answer.verdict is Verdict.STORED and answer.affiliate_id:
            notifier.conversion_stored(answer.affiliate_id)
    elif was_in and not is_in:
        await channels.left(event.chat.id, user_id)


async def invite_link(bot: Bot, channels: ChannelService, link_id: int) -> str | None:
    """The affiliate's invite link to a channel offer, made on first use; None if it cannot be."""
    found = await channels.invite_for(link_id)
    if not isinstance(found, InviteNeed):
        return found
    try:
        made = await bot.create_chat_invite_link(found.chat_id, name=found.name)
    except (TelegramBadRequest, TelegramForbiddenError) as exc:
        logger.warning("cannot make an invite link in {}: {}", found.chat_id, exc.message)
        return None
    return await channels.save_invite(found, made.invite_link)
