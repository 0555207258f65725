"""Channel offers: joins and leaves seen in chat_member updates, and invite links on demand."""

from __future__ import annotations

from aiogram import Router
from aiogram.enums import ChatMemberStatus
from aiogram.types import ChatMemberUpdated

from bot.services.channels import ChannelService
from bot.services.conversions import Verdict
from bot.telegram.notifier import Notifier

INSIDE = {
    ChatMemberStatus.MEMBER,
    ChatMemberStatus.ADMINISTRATOR,
    ChatMemberStatus.CREATOR,
    ChatMemberStatus.RESTRICTED,
}


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


def router() -> Router:
    """This feature's router, built afresh for each dispatcher."""
    r = Router(name=__name__)
    r.chat_member.register(member_changed)
    return r
