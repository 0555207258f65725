"""What the race board has not seen yet: each entry whose score moved gets a mark (`race_mark`)
in the transaction that moved it, holding what the board needs of it; the tick claims the
marks (Board.sync) and so reads no row of the entries."""

from __future__ import annotations

from datetime import datetime

from bot.services.sql import connection, db_time, is_postgres, placeholders

# A mark is written after the entry's row is (its row lock, held to the commit, orders two
# writers of one entry, so the mark holds the last score), or replaces the one already there.
MARK_COLUMNS = "entry_id, race_id, affiliate_id, score, reached_at, best_rank"
ENTRY_COLUMNS = "id, race_id, affiliate_id, score, reached_at, best_rank"  # what a mark copies
UPSERT_MARK = (
    "ON CONFLICT (entry_id) DO UPDATE SET score = excluded.score, "
    "reached_at = excluded.reached_at, best_rank = excluded.best_rank"
)
CLAIM = (
    "DELETE FROM race_mark WHERE race_id = {p1} "
    "RETURNING entry_id, affiliate_id, score, reached_at, best_rank"
)


async def mark(race_id: int, affiliate_id: int) -> None:
    """Tell the next sync about this entry as it is now (call in the transaction that made or
    moved it)."""
    conn = connection()
    sql = (
        f"INSERT INTO race_mark ({MARK_COLUMNS}) SELECT {ENTRY_COLUMNS} FROM race_entry "
        "WHERE race_id = {p1} AND affiliate_id = {p2} " + UPSERT_MARK
    )
    await conn.execute_query(sql.format(**placeholders(conn, 2)), [race_id, affiliate_id])


async def move(
    race_id: int, affiliate_id: int, final: int, provisional: int, reached_at: datetime | None
) -> bool:
    """Add points to an entry and mark it for the next sync (call in the event's transaction);
    False if the affiliate has no entry in the race. One statement on PostgreSQL: scoring is
    on the path of every click, referral and postback while a race runs."""
    conn = connection()
    postgres = is_postgres(conn)
    values: list[object] = []

    def param(value: object) -> str:
        values.append(value)
        return f"${len(values)}" if postgres else "?"

    sets = []
    if final:
        sets.append(f"score = score + {param(final)}")
    if reached_at is not None:
        sets.append(f"reached_at = {param(db_time(conn, reached_at))}")
    if provisional:
        sets.append(f"provisional = provisional + {param(provisional)}")
    if not sets:
        return False
    update = (
        f"UPDATE race_entry SET {', '.join(sets)} "
        f"WHERE race_id = {param(race_id)} AND affiliate_id = {param(affiliate_id)}"
    )
    if not postgres:
        changed, _ = await conn.execute_query(update, values)
        if changed:
            await mark(race_id, affiliate_id)
        return bool(changed)
    sql = (
        f"WITH moved AS ({update} RETURNING {ENTRY_COLUMNS}) INSERT INTO race_mark "
        f"({MARK_COLUMNS}) SELECT * FROM moved {UPSERT_MARK} RETURNING entry_id"
    )
    return bool(await conn.execute_query_dict(sql, values))
