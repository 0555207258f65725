"""Routers, one per feature; get_routers() gives their order."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    admin,
    admin_races,
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
    """Errors first; admin before the rest so /admin commands win; fallback last."""
    routers = [
        errors.router,
        admin.router,
        admin_races.router,
        start.router,
        menu.router,
        links.router,
        money.router,
        races.router,
        channels.router,
        settings.router,
        inline.router,
        fallback.router,
    ]
    for router in routers:
        # A process builds one Dispatcher, tests build one each; aiogram has no detach.
        router._parent_router = None
    return routers
