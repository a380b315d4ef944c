"""Append-only run journals: the one place a ``log()`` call writes to.

A journal is a file of newline-terminated records, written through a shared memory map: an
append is a copy into the page cache, with no system call, and what was copied survives the
process being killed (the kernel owns the pages). The file is reserved ahead with
``posix_fallocate``, so a full disk fails at reservation time, never as a SIGBUS mid-write.
Unwritten space is zero bytes, and no record contains one: a record is complete exactly when it
ends in a newline and holds no NUL, which is how a reader finds a record cut by a kill.

The writing process holds an exclusive ``flock`` on the file for its whole life; a journal whose
lock can be taken belongs to a dead process and is recovered.

What the records say is owned by ``_journal_records.py`` (writers and parser side by side);
this module only moves bytes.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

from loopml.store import Batch
from loopml.tracking._journal_records import parse_records

# Small to start: the first touch of a mapped page costs more the larger the file (fault-around).
_INITIAL_SIZE = 1 << 16
_MAX_GROWTH = 64 << 20


def journal_name(run_id: str, journal_id: str) -> str:
    """The file name of a journal: its run id, then its own id."""
    return f"{run_id}.{journal_id}.journal"


def parse_journal_name(path: Path) -> tuple[str, str] | None:
    """``(run_id, journal_id)`` from a journal file name, or None for other files."""
    parts = path.name.split(".")
    if len(parts) != 3 or parts[2] != "journal":
        return None
    return parts[0], parts[1]


_OPEN_WRITERS: weakref.WeakSet[JournalWriter] = weakref.WeakSet()
SPARE_SUFFIX = ".spare"


class JournalWriter:
    """Appends records to one journal through a memory map. Not thread-safe: callers lock.

    A finished small journal can be kept as a spare (``retire``) and given to the next run
    (``reuse``): closing a file whose space was reserved costs far more than zeroing 64 KiB.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.size = _INITIAL_SIZE
            os.posix_fallocate(self._fd, 0, self.size)
            self.map = mmap.mmap(self._fd, self.size)
        except BaseException:
            os.close(self._fd)
            path.unlink(missing_ok=True)
            raise
        self.position = 0
        _OPEN_WRITERS.add(self)

    def retire(self, spare_path: Path) -> bool:
        """Zero what was written and rename the file to ``spare_path``; False if too big to keep."""
        if self._fd < 0 or self.size != _INITIAL_SIZE:
            return False
        self.map[0 : self.position] = bytes(self.position)
        os.rename(self.path, spare_path)
        self.path = spare_path
        self.position = 0
        return True

    def reuse(self, path: Path) -> None:
        """Take a retired (all-zero) journal for a new run."""
        os.rename(self.path, path)
        self.path = path

    def append(self, record: bytes) -> None:
        """Copy one complete record (ending in a newline) into the journal."""
        end = self.position + len(record)
        if end > self.size:
            self.reserve(end)
        self.map[self.position : end] = record
        self.position = end

    def write_first(self, record: bytes) -> None:
        """Write the journal's first record with ``pwrite``: cheaper than faulting in a page."""
        if self.position != 0 or len(record) > self.size:
            self.append(record)
            return
        os.pwrite(self._fd, record, 0)  # the page cache is shared with the map
        self.position = len(record)

    def reserve(self, needed: int) -> None:
        """Grow the file and its map to hold at least ``needed`` bytes."""
        size = self.size
        while size < needed:
            size += min(size, _MAX_GROWTH)
        os.posix_fallocate(self._fd, self.size, size - self.size)  # ENOSPC surfaces here
        self.map.close()
        self.map = mmap.mmap(self._fd, size)
        self.size = size

    def close(self, delete: bool) -> None:
        """Unmap and close (releasing the lock); ``delete`` removes the file first."""
        if self._fd < 0:
            return
        if delete:
            self.path.unlink(missing_ok=True)
        self.map.close()
        os.close(self._fd)
        self._fd = -1

    def forget(self) -> None:
        """Close without touching the file: for a forked child, whose copies are not its own."""
        if self._fd >= 0:
            self.map.close()
            os.close(self._fd)
            self._fd = -1


def _after_fork_in_child() -> None:
    # The child must not keep the parent's journals open: its copy of a descriptor would keep
    # the lock held after the parent died, and recovery would think the writer alive.
    for writer in list(_OPEN_WRITERS):
        writer.forget()


os.register_at_fork(after_in_child=_after_fork_in_child)


def try_lock(path: Path) -> int | None:
    """Open ``path`` and take its lock without waiting: a descriptor, or None if it is held."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@dataclass
class Segment:
    """Records read from a journal: the batch, the byte range it covers, and any cut record."""

    batch: Batch
    start: int
    end: int
    truncated: bytes = b""


def read_segment(path: Path, start: int, end: int | None = None) -> Segment:
    """Parse the complete records from byte ``start`` (to ``end``, or to the first NUL byte)."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(end - start)
    nul = data.find(b"\x00")
    if nul >= 0:
        data = data[:nul]
    last_nl = data.rfind(b"\n")
    complete, truncated = data[: last_nl + 1], data[last_nl + 1 :]
    return Segment(parse_records(complete), start, start + len(complete), truncated)
