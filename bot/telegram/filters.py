"""Filters shared by routers."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter


class IsAdmin(Filter):
    """Passes admins only (the user middleware puts `is_admin` in the handler data)."""

    async def __call__(self, event: Any, is_admin: bool = False) -> bool:
        return is_admin
