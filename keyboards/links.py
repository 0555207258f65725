"""Keyboards of the My links section."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from keyboards.callbacks import LinkAction, LinkCallback, MenuAction, MenuCallback
from keyboards.menu import add_home


def links_kb(offer_links: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One button per offer link (id, title), then the own link's actions."""
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🤖 My bot link"), callback_data=LinkCallback(action=LinkAction.SHOW))
    for link_id, title in offer_links:
        kb.button(
            text=f"🔗 {title[:40]}",
            callback_data=LinkCallback(action=LinkAction.SHOW, link_id=link_id),
        )
    kb.button(text=_("🏷 Sub-links"), callback_data=LinkCallback(action=LinkAction.SUBS))
    kb.button(text=_("⬅️ Menu"), callback_data=MenuCallback(action=MenuAction.MAIN))
    kb.adjust(1)
    return kb.as_markup()


def link_card_kb(link_id: int, code: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("📷 QR code"), callback_data=LinkCallback(action=LinkAction.QR, link_id=link_id)
    )
    kb.button(text=_("📤 Share"), switch_inline_query=code)
    kb.button(text=_("🏷 Sub-links"), callback_data=LinkCallback(action=LinkAction.SUBS))
    kb.button(text=_("⬅️ My links"), callback_data=MenuCallback(action=MenuAction.LINKS))
    add_home(kb)
    kb.adjust(2, 1, 2)
    return kb.as_markup()


def sublinks_kb(labels: list[str], can_add: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if can_add:
        kb.button(
            text=_("➕ Add a sub-link"), callback_data=LinkCallback(action=LinkAction.SUB_ADD)
        )
    for label in labels:
        kb.button(
            text=_("🗑 Remove {label}").format(label=label),
            callback_data=LinkCallback(action=LinkAction.SUB_DEL, label=label),
        )
    kb.button(text=_("⬅️ My links"), callback_data=MenuCallback(action=MenuAction.LINKS))
    add_home(kb)
    kb.adjust(*([1] * (len(labels) + can_add)), 2)
    return kb.as_markup()


def confirm_remove_kb(label: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("Yes, remove it"),
        callback_data=LinkCallback(action=LinkAction.SUB_DEL_OK, label=label),
    )
    kb.button(text=_("No, keep it"), callback_data=LinkCallback(action=LinkAction.SUBS))
    kb.adjust(2)
    return kb.as_markup()


def cancel_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✖️ Cancel"), callback_data=LinkCallback(action=LinkAction.CANCEL))
    return kb.as_markup()


def share_kb(url: str) -> InlineKeyboardMarkup:
    """The button under a shared link card: it opens the link."""
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🚀 Open"), url=url)
    return kb.as_markup()
