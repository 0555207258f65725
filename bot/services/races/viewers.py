"""Where many viewers of one race's board stand, read together for a live board's tick: each
one's rank and points and the points of the place above them, by a script that takes the
members as one packed string. A pipeline of ZREVRANK + ZSCORE + ZREVRANGE per viewer cost
the client about 80 µs of CPU a viewer (redis-py packs and parses each command in Python):
most of a 10,000-viewer tick."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from bot.services.races.board import Standing, decode, key

CHUNK = 1000  # members per script call: each holds Redis a few milliseconds at a million

# For each member of a packed "member,member,…" string, three values: its 0-based rank (-1 when
# it is not on the board), its sorted-set score and the score of the place above it (false
# when there is none, or when ARGV[2] asks for no gaps). Scores are returned as Redis wrote
# them, so nothing is rounded on the way (a Lua number turned into a reply is truncated).
STANDINGS = """
local board, gaps = KEYS[1], ARGV[2] == '1'
local out, n = {}, 0
for member in string.gmatch(ARGV[1], '[^,]+') do
    local rank = redis.call('ZREVRANK', board, member)
    local score, above = false, false
    if rank then
        score = redis.call('ZSCORE', board, member)
        if gaps and rank > 0 then
            above = redis.call('ZREVRANGE', board, rank - 1, rank - 1, 'WITHSCORES')[2] or false
        end
    else
        rank = -1
    end
    out[n + 1], out[n + 2], out[n + 3] = rank, score, above
    n = n + 3
end
return out
"""


@dataclass(frozen=True, slots=True)
class Placed:
    """A viewer on the board, and the points of the place above them (None: they lead, or the
    caller asked for no gaps)."""

    standing: Standing
    above: int | None


async def placed(
    redis: Redis, race_id: int, affiliate_ids: Sequence[int], gaps: bool
) -> dict[int, Placed]:
    """Each of these affiliates that is on race `race_id`'s board, in one round trip (a script
    per CHUNK members); `gaps`: also the points of the place above each of them, read in the
    same script, so both come from one state of the board."""
    members = [str(a) for a in affiliate_ids]
    board = key(race_id)
    flag = "1" if gaps else "0"
    async with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(members), CHUNK):
            pipe.eval(STANDINGS, 1, board, ",".join(members[start : start + CHUNK]), flag)
        found = await pipe.execute()
    out: dict[int, Placed] = {}
    values = [v for part in found for v in part]
    for aff, rank, score, above in zip(
        affiliate_ids, values[::3], values[1::3], values[2::3], strict=True
    ):
        if rank < 0 or score is None:
            continue
        out[aff] = Placed(
            Standing(aff, int(rank) + 1, decode(float(score))),
            None if above is None else decode(float(above)),
        )
    return out
