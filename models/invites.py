"""Invite links the bot made for affiliates in channel offers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.link import Link
    from models.offer import Offer


class ChannelInvite(Model):
    """The invite link the bot made for one affiliate in a channel offer."""

    id = fields.IntField(primary_key=True)
    offer: fields.ForeignKeyRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="invites", on_delete=fields.CASCADE
    )
    link: fields.ForeignKeyRelation[Link] = fields.ForeignKeyField(
        "models.Link", related_name="invites", on_delete=fields.CASCADE
    )
    invite_link = fields.CharField(max_length=128, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    offer_id: int
    link_id: int

    class Meta:
        table = "channel_invite"
        unique_together = (("offer", "link"),)
