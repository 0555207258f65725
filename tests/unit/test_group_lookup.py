"""GroupLookup: the keys that callers ask for together are read in one query, and each caller
gets its own row (or its own error) whatever the others asked."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from bot.errors import Unavailable
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


async def test_a_read_cut_short_by_a_stop_answers_every_waiting_caller_unavailable() -> None:
    """The process stops with a read out: its callers and those queued behind it get an
    'unavailable' (a 503 for a postback) instead of waiting for good, and the lookup still
    works for whoever asks next."""
    reads = Reads()
    reads.gate = asyncio.Event()
    lookup = GroupLookup(reads)
    out = asyncio.ensure_future(lookup.get("k1"))
    await asyncio.sleep(0.01)
    queued = asyncio.ensure_future(lookup.get("k2"))
    again = asyncio.ensure_future(lookup.get("k1"))  # the same key, asked while it is out
    await asyncio.sleep(0.01)

    for task in asyncio.all_tasks():  # as asyncio.run does at the end, the read among them
        if getattr(task.get_coro(), "__qualname__", "").endswith("GroupLookup._read"):
            task.cancel()
    answers = await asyncio.wait_for(asyncio.gather(out, queued, again, return_exceptions=True), 1)

    assert [type(a) for a in answers] == [Unavailable] * 3
    reads.gate.set()
    assert await asyncio.wait_for(lookup.get("k5"), 1) == {"n": 5}


async def test_a_read_that_answers_nonsense_fails_its_callers_instead_of_leaving_them() -> None:
    async def broken(keys: list[str]) -> dict[str, int]:
        return [1, 2]  # type: ignore[return-value]

    lookup: GroupLookup[str, int] = GroupLookup(broken)

    with pytest.raises(AttributeError):
        await asyncio.wait_for(lookup.get("k1"), 1)


REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


async def test_reads_never_run_in_a_callers_context() -> None:
    """A caller inside a transaction (tortoise keeps it in a context variable) must not lend
    it to the reads of the others."""
    seen: list[str] = []

    async def read(keys: list[str]) -> dict[str, dict[str, int]]:
        seen.append(REQUEST.get())
        return {key: ROWS[key] for key in keys}

    lookup = GroupLookup(read)

    async def ask(request: str, key: str) -> dict[str, int] | None:
        REQUEST.set(request)
        return await lookup.get(key)

    assert await asyncio.gather(ask("A", "k1"), ask("B", "k2")) == [{"n": 1}, {"n": 2}]
    assert await asyncio.create_task(ask("C", "k3")) == {"n": 3}
    assert seen == ["none", "none"]


async def test_callers_behind_a_read_that_does_not_answer_give_up_after_wait() -> None:
    """A frozen database holds the read that is out: those who asked get 'unavailable' (a
    postback's 503) after `wait` seconds, as a query of their own would have, and those who
    ask while that read is still out get it at once. Once it answers, the lookup serves again."""
    reads = Reads()
    reads.gate = asyncio.Event()
    lookup = GroupLookup(reads, wait=0.05)
    first = asyncio.ensure_future(lookup.get("k0"))
    await asyncio.sleep(0.01)
    queued = asyncio.ensure_future(lookup.get("k1"))  # behind the read that hangs

    answers = await asyncio.wait_for(asyncio.gather(first, queued, return_exceptions=True), 1)
    assert [type(a) for a in answers] == [Unavailable] * 2
    started = asyncio.get_running_loop().time()
    with pytest.raises(Unavailable):
        await lookup.get("k2")
    assert asyncio.get_running_loop().time() - started < 0.01  # at once, not after `wait`

    reads.gate.set()
    await asyncio.sleep(0.01)
    assert await asyncio.wait_for(lookup.get("k4"), 1) == {"n": 4}
    assert reads.asked == [["k0"], ["k4"]]
