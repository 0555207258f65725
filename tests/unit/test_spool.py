"""The spool on its own: what a crash, a damaged disk or a full one leaves, and what is read
back from it."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loguru import logger

from bot.services.click_store import decode, record
from bot.services.spool import Position, Spool, SpoolBusy, frame, unframe


@pytest.fixture
def logged() -> list[str]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


def read_all(spool: Spool) -> tuple[list[bytes], int, Position]:
    """Everything from the checkpoint on, as the loader reads it (and the checkpoint kept)."""
    position = spool.checkpoint()
    records: list[bytes] = []
    damaged = 0
    while True:
        chunk = spool.read(position, 1000)
        records += chunk.records
        damaged += chunk.damaged
        if chunk.end == position:
            return records, damaged, position
        spool.save_checkpoint(chunk.end)
        position = chunk.end


async def test_records_come_back_in_order_across_segments_and_loaded_ones_go(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, fsync_ms=0, segment_bytes=200)
    spool.open()
    sent = [f"click {n}".encode() for n in range(40)]
    for payload in sent:
        assert spool.append(payload)

    assert len(spool.segments()) > 3  # rotated past 200 bytes
    records, damaged, _ = read_all(spool)

    assert records == sent and damaged == 0
    assert spool.segments() == [spool.writing]  # the loaded segments are deleted
    await spool.close()


async def test_a_restart_reads_on_from_the_checkpoint_and_never_appends_to_an_old_segment(
    tmp_path: Path,
) -> None:
    first = Spool(tmp_path, fsync_ms=0)
    first.open()
    for n in range(5):
        first.append(b"a%d" % n)
    chunk = first.read(first.checkpoint(), 3)
    first.save_checkpoint(chunk.end)  # three stored, then the process dies
    old_segment = first.writing
    assert first._fd is not None and first._lock_fd is not None
    os.close(first._fd)  # the process dies: the kernel closes its files, the lock goes
    os.close(first._lock_fd)

    second = Spool(tmp_path, fsync_ms=0)
    records, _, _ = read_all(second)  # replay, before the writer opens
    second.open()
    second.append(b"b0")

    assert records == [b"a3", b"a4"]
    assert second.writing > old_segment
    assert read_all(second)[0] == [b"b0"]
    await second.close()


async def test_a_record_cut_short_by_a_crash_is_skipped_and_the_rest_is_read(
    tmp_path: Path, logged: list[str]
) -> None:
    segment = tmp_path / f"{1:020d}.spool"
    whole = frame(b"one") + frame(b"two")
    segment.write_bytes(whole + frame(b"three")[:6])  # the crash came mid-write

    records, damaged, _ = read_all(Spool(tmp_path, fsync_ms=0))

    assert records == [b"one", b"two"]
    assert damaged == 1
    assert any("cut short" in line for line in logged)


async def test_a_damaged_record_in_the_middle_does_not_stop_those_after_it(
    tmp_path: Path, logged: list[str]
) -> None:
    segment = tmp_path / f"{1:020d}.spool"
    bad = bytearray(frame(b"second"))
    bad[12] ^= 0x20  # one flipped bit in the payload: its CRC no longer matches
    segment.write_bytes(frame(b"first") + bytes(bad) + b"garbage\n" + frame(b"third"))

    records, damaged, _ = read_all(Spool(tmp_path, fsync_ms=0))

    assert records == [b"first", b"third"]
    assert damaged == 2
    assert sum("damaged record" in line for line in logged) == 2


async def test_a_full_disk_counts_the_click_as_lost_and_says_so(
    tmp_path: Path, logged: list[str]
) -> None:
    spool = Spool(tmp_path, fsync_ms=0)
    spool.open()
    assert spool.append(b"kept")
    # The next segment is /dev/full: every write to it fails with ENOSPC.
    os.symlink("/dev/full", tmp_path / f"{spool.writing + 1:020d}.spool")
    spool._begin_segment(spool.writing + 1)

    assert not spool.append(b"lost")

    assert (spool.appended, spool.lost) == (1, 1)
    assert spool.error and "space" in spool.error.lower()
    assert any("could not be written to the spool" in line for line in logged)
    os.unlink(tmp_path / f"{spool.writing:020d}.spool")
    await spool.close()


async def test_an_unwritable_directory_loses_clicks_without_raising(
    tmp_path: Path, logged: list[str]
) -> None:
    (tmp_path / "file").write_text("not a directory")
    spool = Spool(tmp_path / "file" / "spool", fsync_ms=0)

    assert not spool.append(b"x")
    assert not spool.append(b"y")  # within the retry pause: not even tried

    assert spool.lost == 2 and spool.error
    assert any("could not be written" in line for line in logged)


async def test_a_second_process_cannot_take_the_same_directory(tmp_path: Path) -> None:
    first = Spool(tmp_path, fsync_ms=0)
    first.open()
    # flock is per open file: a second open of the lock file in this process conflicts just
    # as another process's would.
    with pytest.raises(SpoolBusy, match="CLICK_SPOOL_DIR"):
        Spool(tmp_path, fsync_ms=0).open()
    await first.close()
    second = Spool(tmp_path, fsync_ms=0)
    second.open()  # free again once the first is closed
    await second.close()


async def test_the_syncer_syncs_and_close_leaves_nothing_open(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync_ms=5, segment_bytes=50)
    spool.open()
    spool.start()
    for n in range(10):
        spool.append(b"record %d" % n)
    before = len(os.listdir("/proc/self/fd"))
    await spool.sync()

    assert not spool._dirty and not spool._retired  # everything synced, retired ones closed
    await spool.close()
    assert len(os.listdir("/proc/self/fd")) < before


@settings(max_examples=300, deadline=None)
@given(
    agent=st.text(max_size=256),
    sub=st.none() | st.text(max_size=32),
    offer=st.none() | st.integers(1, 2**31 - 1),
    is_bot=st.booleans(),
    micros=st.integers(0, 4_000_000_000_000_000),
)
def test_a_click_record_is_one_line_and_reads_back_as_written(
    agent: str, sub: str | None, offer: int | None, is_bot: bool, micros: int
) -> None:
    payload = record("ab" * 16, 7, sub, "cd" * 16, is_bot, agent, micros, 3, offer)
    click = decode(payload)

    assert b"\n" not in payload and unframe(frame(payload)[:-1]) == payload
    assert (click.user_agent, click.sub, click.offer_id, click.is_bot) == (
        agent,
        sub,
        offer,
        is_bot,
    )
    assert click.created_at == datetime.fromtimestamp(micros / 1_000_000, UTC)
    assert (click.unique_key is None) == is_bot


@pytest.mark.parametrize(
    "payload",
    [b"[]", b"{}", b'[2,"a",1,null,"v",false,"ua",1,1,null]', b'[1,"a","1",null,"v",0,"",1,1,1]'],
)
def test_a_record_this_code_did_not_write_is_refused(payload: bytes) -> None:
    with pytest.raises(ValueError, match="not a click record"):
        decode(payload)


def test_files_that_only_look_like_segments_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "²³.spool").write_bytes(frame(b"not ours"))  # isdigit() says yes, int() no
    (tmp_path / "7.spool").write_bytes(frame(b"not ours either"))  # not a segment's name
    (tmp_path / f"{1:020d}.spool").write_bytes(frame(b"ours"))

    spool = Spool(tmp_path, fsync_ms=0)

    assert spool.segments() == [1]
    assert read_all(spool)[0] == [b"ours"]
