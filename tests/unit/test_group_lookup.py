"""GroupLookup: the keys that callers ask for together are read in one query, and each caller
gets its own row (or its own error) whatever the others asked."""

from __future__ import annotations

import asyncio

import pytest

from bot.services.batching import GroupLookup

ROWS = {f"k{i}": {"n": i} for i in range(100)}


class Reads:
    """A table of ROWS that records what each read asked for; `gate` holds a read open."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.fail_next = False

    async def __call__(self, keys: list[str]) -> dict[str, dict[str, int]]:
        self.asked.append(keys)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionRefusedError("the database went away")
        return {key: ROWS[key] for key in keys if key in ROWS}


async def test_keys_asked_together_are_read_once_and_each_caller_gets_its_own_row() -> None:
    reads = Reads()
    lookup = GroupLookup(reads)
    keys = [f"k{i}" for i in range(50)] + ["nobody"]

    rows = await asyncio.gather(*(lookup.get(key) for key in keys))

    assert len(reads.asked) == 1
    assert sorted(reads.asked[0]) == sorted(keys)
    assert rows == [{"n": i} for i in range(50)] + [None]


async def test_the_same_key_asked_twice_is_read_once_and_both_callers_get_the_row() -> None:
    reads = Reads()
    lookup = GroupLookup(reads)

    rows = await asyncio.gather(lookup.get("k7"), lookup.get("k7"), lookup.get("k8"))

    assert reads.asked == [["k7", "k8"]]
    assert rows == [{"n": 7}, {"n": 7}, {"n": 8}]


async def test_keys_asked_while_a_read_is_out_go_together_in_the_next_read() -> None:
    reads = Reads()
    reads.gate = asyncio.Event()
    lookup = GroupLookup(reads)
    first = asyncio.ensure_future(lookup.get("k0"))
    await asyncio.sleep(0.01)  # the first read is out, held at the gate
    later = [asyncio.ensure_future(lookup.get(f"k{i}")) for i in range(1, 31)]
    await asyncio.sleep(0.01)

    assert reads.asked == [["k0"]]  # nobody else was read while it was out
    reads.gate.set()
    rows = await asyncio.gather(first, *later)

    assert reads.asked == [["k0"], [f"k{i}" for i in range(1, 31)]]
    assert rows == [{"n": i} for i in range(31)]


async def test_batches_are_cut_at_max_batch() -> None:
    reads = Reads()
    lookup = GroupLookup(reads, max_batch=40)

    rows = await asyncio.gather(*(lookup.get(f"k{i}") for i in range(100)))

    assert [len(keys) for keys in reads.asked] == [40, 40, 20]
    assert rows == [{"n": i} for i in range(100)]


async def test_a_failed_read_fails_each_of_its_callers_and_the_next_read_works() -> None:
    reads = Reads()
    reads.fail_next = True
    lookup = GroupLookup(reads)

    failed = await asyncio.gather(*(lookup.get(f"k{i}") for i in range(5)), return_exceptions=True)

    assert all(isinstance(result, ConnectionRefusedError) for result in failed)
    assert await lookup.get("k3") == {"n": 3}  # nothing left waiting, nothing stuck


async def test_a_caller_that_gave_up_leaves_the_others_their_rows() -> None:
    reads = Reads()
    reads.gate = asyncio.Event()
    lookup = GroupLookup(reads)
    impatient = asyncio.ensure_future(lookup.get("k1"))
    patient = asyncio.ensure_future(lookup.get("k2"))
    await asyncio.sleep(0.01)

    impatient.cancel()
    reads.gate.set()

    assert await asyncio.wait_for(patient, 1) == {"n": 2}
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert await lookup.get("k4") == {"n": 4}
