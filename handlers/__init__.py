"""Routers, one per feature, each built afresh by its module's router(); get_routers() gives
their order."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    admin,
    balance,
    channels,
    errors,
    fallback,
    inline,
    links,
    menu,
    races,
    settings,
    start,
    stats,
)


def get_routers() -> list[Router]:
    """Errors first; admin before the rest so its commands win; the fallback last."""
    return [
        errors.router(),
        admin.router(),
        start.router(),
        menu.router(),
        links.router(),
        stats.router(),
        balance.router(),
        races.router(),
        channels.router(),
        settings.router(),
        inline.router(),
        fallback.router(),
    ]
