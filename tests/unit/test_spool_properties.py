"""Property tests of the click spool's record format: any bytes a damaged disk or a hand-edited
file can hold are skipped and counted, never raised, and every record whose line survived is
read back, in order, whatever came before it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.services.click_store import MICROS_MAX, PendingClick, decode
from bot.services.spool import Position, Spool, frame, unframe

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GOOD = ["ab" * 16, 7, None, "cd" * 16, False, "UA", 1_796_000_000_000_000, 3, None]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)
# A record of ours with one field swapped for anything: the wrong type, out of range, huge.
NEAR = st.tuples(
    st.integers(0, 9),
    st.one_of(
        JSON,
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([MICROS_MAX + 1, -1, 10**30, 1e400, "1", True, 2**63]),
    ),
).map(lambda change: [*GOOD[: change[0]], change[1], *GOOD[change[0] + 1 :]])


@PROPERTY
@given(
    st.one_of(
        st.binary(max_size=200),
        JSON.map(lambda v: json.dumps(v).encode()),
        NEAR.map(lambda v: json.dumps(v, allow_nan=True).encode()),
        st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
    )
)
def test_a_record_decodes_to_a_click_or_is_refused_as_not_one(payload: bytes) -> None:
    try:
        click = decode(payload)
    except ValueError:
        return

    assert isinstance(click, PendingClick)
    assert click.created_at.tzinfo is not None and click.created_at.year >= 1970
    assert (click.unique_key is None) == click.is_bot
    assert isinstance(click.link_id, int) and isinstance(click.affiliate_id, int)


@PROPERTY
@given(st.binary(max_size=120))
def test_a_line_is_a_payload_only_with_its_own_crc(line: bytes) -> None:
    payload = unframe(line)

    assert payload is None or frame(payload) == line + b"\n"


PAYLOAD = st.binary(max_size=40).filter(lambda b: b"\n" not in b)
JUNK = st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b)
# One line of a segment: a good record, or what damage leaves in its place.
LINE = st.one_of(
    st.tuples(st.just("good"), PAYLOAD, st.integers(0, 0)),
    st.tuples(st.just("junk"), JUNK, st.integers(0, 0)),
    st.tuples(st.just("flip"), PAYLOAD, st.integers(0, 10_000)),
    st.tuples(st.just("empty"), st.just(b""), st.integers(0, 0)),
)


def written(kind: str, payload: bytes, where: int) -> bytes:
    """The bytes of one line as the disk holds them."""
    if kind == "good":
        return frame(payload)
    if kind == "junk":
        return payload + b"\n"
    if kind == "empty":
        return b"\n"
    line = bytearray(frame(payload))
    at = where % (len(line) - 1)  # any byte but the newline
    line[at] = line[at] ^ 0x01 if line[at] ^ 0x01 != ord("\n") else line[at] ^ 0x02
    return bytes(line)


def read_everything(spool: Spool) -> tuple[list[bytes], int]:
    records: list[bytes] = []
    damaged_lines = 0
    position = Position(0, 0)
    for _ in range(1000):
        chunk = spool.read(position, 5)
        records += chunk.records
        damaged_lines += chunk.damaged
        if chunk.end == position:
            return records, damaged_lines
        position = chunk.end
    raise AssertionError("reading the spool never came to an end")


@PROPERTY
@given(lines=st.lists(LINE, min_size=1, max_size=12), torn=st.integers(0, 30))
def test_damaged_lines_are_skipped_and_counted_and_every_good_one_is_read(
    tmp_path_factory: Any, lines: list[tuple[str, bytes, int]], torn: int
) -> None:
    directory: Path = tmp_path_factory.mktemp("spool")
    data = b"".join(written(*line) for line in lines)
    tail = frame(b"cut short by a crash")[:torn] if torn < 25 else b""
    (directory / f"{1:020d}.spool").write_bytes(data + tail)
    (directory / f"{2:020d}.spool").write_bytes(frame(b"next segment"))

    records, damaged_lines = read_everything(Spool(directory, fsync_ms=0))

    good = [payload for kind, payload, _ in lines if kind == "good"]
    assert records == [*good, b"next segment"]
    bad = sum(kind != "good" for kind, _, _ in lines) + (1 if tail else 0)
    assert damaged_lines == bad
