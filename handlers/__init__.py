"""Routers, one per feature, each built afresh by its module's router(); get_routers() gives
their order."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    admin,
    channels,
    errors,
    fallback,
    inline,
    links,
    menu,
    money,
    races,
    settings,
    start,
)


def get_routers() -> list[Router]:
    """Errors first; admin before the rest so its commands win; the fallback last."""
    return [
        errors.router(),
        admin.router(),
        start.router(),
        menu.router(),
        links.router(),
        money.router(),
        races.router(),
        channels.router(),
        settings.router(),
        inline.router(),
        fallback.router(),
    ]
