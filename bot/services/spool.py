"""An append-only local spool: records are appended with one write() each and read back in
order from a checkpoint, by the same process, after a restart too.

On disk, a directory of numbered segments (`00000000000000000001.spool`, …), a `checkpoint`
(the segment and byte offset up to which everything is stored elsewhere) and a `lock` that
keeps a second process out. A record is one line: the CRC-32 of its payload in 8 hex digits,
a space, the payload (which holds no newline), a newline. A line whose CRC does not match, or
a segment's last line cut short by a crash, is skipped with a log line; the lines after it are
read as usual.

Durability: once `append` returns, the bytes are in the operating system (a kill -9 of the
process loses nothing); `fsync_ms` bounds what a crash of the machine can lose.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

SUFFIX = ".spool"
SEGMENT_BYTES = 8 * 1024 * 1024  # a segment is closed and a new one begun past this size
READ_BYTES = 1024 * 1024  # read at most this much of a segment at a time
REOPEN_SECONDS = 1.0  # after a failed open, how long appends count as lost without trying
SEGMENT = re.compile(r"[0-9]{20}")  # a segment's name: ASCII digits only (isdigit() takes "²")
HEADER = 9  # the CRC's 8 hex digits and a space
ERROR_LOG_SECONDS = 10.0  # lost records are logged at most this often (with their count)


class SpoolBusy(Exception):
    """Another process holds the spool directory."""


def frame(payload: bytes) -> bytes:
    """One record as it is written: CRC, space, payload, newline."""
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def unframe(line: bytes) -> bytes | None:
    """The payload of one line (without its newline), or None if the line is damaged."""
    if len(line) < HEADER or line[HEADER - 1 : HEADER] != b" ":
        return None
    payload = line[HEADER:]
    try:
        crc = int(line[:8], 16)
    except ValueError:
        return None
    return payload if zlib.crc32(payload) == crc else None


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where reading stands: a segment's number and a byte offset in it."""

    segment: int
    offset: int


@dataclass(slots=True)
class Chunk:
    """Records read from one segment, and where reading continues after them."""

    records: list[bytes]
    end: Position
    damaged: int = 0  # lines skipped because their CRC did not match or they were cut short


class Spool:
    """The writer and the reader of one spool directory (one process owns it)."""

    def __init__(
        self,
        directory: str | Path,
        fsync_ms: int = 100,
        segment_bytes: int = SEGMENT_BYTES,
        on_append: Callable[[], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.fsync_ms = fsync_ms
        self.segment_bytes = segment_bytes
        self.on_append = on_append
        self.appended = 0  # records written since the start
        self.lost = 0  # records that could not be written (disk full, unwritable directory)
        self.error: str | None = None  # the last write failure, until a write succeeds again
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._segment = 0  # the segment being written
        self._size = 0
        self._dirty = False
        self._retired: list[int] = []  # closed for writing, not yet synced
        self._retry_at = 0.0
        self._lost_unlogged = 0
        self._logged_at = 0.0
        self._syncer: asyncio.Task[None] | None = None

    # -- writing --------------------------------------------------------------------------

    def open(self) -> None:
        """Take the directory (refusing one another process holds) and begin a new segment
        after every existing one: a segment a crash may have cut is never appended to."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._lock_fd is None:
            fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise SpoolBusy(
                    f"the click spool {self.directory} is used by another process: give each "
                    "process its own CLICK_SPOOL_DIR"
                ) from None
            self._lock_fd = fd
        self._begin_segment(self._next_segment())

    def _next_segment(self) -> int:
        # After every segment on disk and the checkpoint's (whose segment may be gone).
        return max([*self.segments(), self.checkpoint().segment, self._segment]) + 1

    def _begin_segment(self, number: int) -> None:
        path = self.directory / f"{number:020d}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if self._fd is not None:
            self._retired.append(self._fd)
        self._fd, self._segment, self._size = fd, number, 0

    def append(self, payload: bytes) -> bool:
        """Write one record (one write() call). False if it could not be written: it is then
        counted as lost and logged (at most every few seconds, with the count)."""
        data = frame(payload)
        try:
            if self._fd is None:
                self._reopen()
            assert self._fd is not None
            written = os.write(self._fd, data)
            if written != len(data):  # the disk filled up mid-record: that line is torn
                self._begin_segment(self._segment + 1)
                raise OSError(errno.ENOSPC, "short write: the disk is full")
        except OSError as exc:
            self._lose(exc)
            return False
        self.appended += 1
        self.error = None
        self._size += written
        self._dirty = True
        if self._size >= self.segment_bytes:
            with contextlib.suppress(OSError):  # the next append tries again
                self._begin_segment(self._segment + 1)
        if self.on_append is not None:
            self.on_append()
        return True

    def _reopen(self) -> None:
        now = time.monotonic()
        if now < self._retry_at:
            raise OSError(errno.EIO, self.error or "the spool could not be opened")
        self._retry_at = now + REOPEN_SECONDS
        if self._lock_fd is None:
            self.open()
        else:
            self._begin_segment(self._next_segment())

    def _lose(self, exc: OSError) -> None:
        self.lost += 1
        self._lost_unlogged += 1
        self.error = f"{exc.strerror or exc}"
        now = time.monotonic()
        if now - self._logged_at >= ERROR_LOG_SECONDS:
            logger.error(
                "{} click(s) could not be written to the spool {} ({}): their redirects were "
                "answered but they are not counted",
                self._lost_unlogged,
                self.directory,
                self.error,
            )
            self._lost_unlogged = 0
            self._logged_at = now

    @property
    def writing(self) -> int:
        """The number of the segment being written (0 before the first)."""
        return self._segment

    def start(self) -> None:
        """Sync what was written at most every `fsync_ms` (0: leave it to the system)."""
        if self.fsync_ms > 0 and self._syncer is None:
            self._syncer = asyncio.create_task(self._sync_forever(), name="spool-fsync")

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.fsync_ms / 1000)
            try:
                await self.sync()
            except OSError as exc:
                logger.error("could not sync the click spool {}: {}", self.directory, exc)

    async def sync(self) -> None:
        """fdatasync the segment being written (in a thread) and close retired segments."""
        retired, self._retired = self._retired, []
        for fd in retired:
            try:
                await asyncio.to_thread(os.fdatasync, fd)
            finally:
                os.close(fd)
        if self._dirty and self._fd is not None:
            self._dirty = False
            await asyncio.to_thread(os.fdatasync, self._fd)

    async def close(self) -> None:
        if self._syncer is not None:
            self._syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncer
            self._syncer = None
        if self._fd is not None:
            self._retired.append(self._fd)
            self._fd = None
        self._segment = 0  # nothing is written any more: every segment is finished
        with contextlib.suppress(OSError):
            await self.sync()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None

    # -- reading --------------------------------------------------------------------------

    def segments(self) -> list[int]:
        try:
            paths = list(self.directory.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(
            int(p.stem) for p in paths if p.suffix == SUFFIX and SEGMENT.fullmatch(p.stem)
        )

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:020d}{SUFFIX}"

    def checkpoint(self) -> Position:
        """Where the last stored record ends (the start of the spool if nothing was)."""
        try:
            data = json.loads((self.directory / "checkpoint").read_text())
            return Position(int(data["segment"]), int(data["offset"]))
        except FileNotFoundError:
            return Position(0, 0)
        except (ValueError, KeyError, TypeError):
            logger.error("the click spool's checkpoint is damaged: reading it from the start")
            return Position(0, 0)

    def save_checkpoint(self, position: Position) -> None:
        """Record that everything before `position` is stored; segments before it go."""
        path = self.directory / "checkpoint"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"segment": position.segment, "offset": position.offset}))
        os.replace(temporary, path)
        for number in self.segments():
            if number >= position.segment:
                break
            with contextlib.suppress(FileNotFoundError):
                self._path(number).unlink()

    def read(self, start: Position, limit: int) -> Chunk:
        """Up to `limit` records from `start`, within one segment. A segment no longer
        written ends at its last newline: a cut-short last line is skipped there. When a
        segment is read to its end, the chunk ends at the start of the next one."""
        numbers = [n for n in self.segments() if n >= start.segment]
        if not numbers:
            return Chunk([], start)
        number = numbers[0]
        offset = start.offset if number == start.segment else 0
        finished = number != self._segment  # nothing is appended to it any more
        try:
            with open(self._path(number), "rb") as file:
                file.seek(offset)
                data = file.read(READ_BYTES)
        except FileNotFoundError:
            return Chunk([], Position(number + 1, 0))
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) == READ_BYTES:  # no newline in a whole read: not records
            logger.error("click spool {}: {} bytes with no record skipped", number, len(data))
            return Chunk([], Position(number, offset + len(data)), damaged=1)
        records: list[bytes] = []
        damaged = 0
        used = 0
        for line in data[:cut].split(b"\n")[:-1]:
            if len(records) >= limit:
                break
            used += len(line) + 1
            payload = unframe(line)
            if payload is None:
                damaged += 1
                logger.error(
                    "click spool {}: a damaged record at byte {} was skipped",
                    self._path(number).name,
                    offset + used - len(line) - 1,
                )
            else:
                records.append(payload)
        end = Position(number, offset + used)
        if used == cut and len(data) < READ_BYTES and finished:
            if cut < len(data):
                damaged += 1
                logger.error(
                    "click spool {}: its last record was cut short ({} bytes) and was skipped",
                    self._path(number).name,
                    len(data) - cut,
                )
            end = Position(numbers[1] if len(numbers) > 1 else number + 1, 0)
        return Chunk(records, end, damaged)

    def pending_bytes(self, start: Position) -> int:
        """How many bytes are written after `start` (a cheap measure of the backlog)."""
        total = 0
        for number in self.segments():
            if number < start.segment:
                continue
            with contextlib.suppress(FileNotFoundError):
                size = self._path(number).stat().st_size
                total += size - (start.offset if number == start.segment else 0)
        return max(total, 0)
