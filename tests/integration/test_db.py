"""The database layer's own promises."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from models import Affiliate


async def test_work_left_in_an_open_transaction_never_reaches_the_next_borrower(
    database: str,
) -> None:
    conn = Tortoise.get_connection("default")
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await Affiliate.create(tg_id=776)
            raise RuntimeError("the handler failed half-way")
    if conn.capabilities.dialect == "postgres":
        # The pool skips asyncpg's reset query (bot/db.py keep_session); a connection handed
        # back with a transaction open must still be rolled back before anyone else gets it.
        async with conn.acquire_connection() as raw:
            await raw.execute("BEGIN")
            await raw.execute(
                "INSERT INTO affiliate (tg_id, created_at, updated_at) VALUES (777, now(), now())"
            )
        async with AsyncExitStack() as held:  # every connection the pool can give
            pool = [await held.enter_async_context(conn.acquire_connection()) for _ in range(5)]
            assert not any(raw.is_in_transaction() for raw in pool)

    assert not await Affiliate.filter(tg_id__in=[776, 777]).exists()
    await Affiliate.create(tg_id=778)  # the next write commits on its own
    assert await Affiliate.filter(tg_id=778).exists()
