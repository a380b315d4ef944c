"""The prediction log's crash-safe journal: what the request path writes, and nothing else.

One journal per serving process: an append-only file written through a shared memory map, so an
append is a memory copy and survives SIGKILL (the kernel owns the pages); space is reserved with
``posix_fallocate`` so a full disk fails at reservation, not as SIGBUS. A record is one line of
JSON (no NUL byte can appear in it); unwritten space is zeros, so a reader stops at the first NUL
and drops a line without its newline (a record cut by the kill, never answered).

The process holds an exclusive ``flock`` for its life: a journal whose lock can be taken belongs
to a dead process and is replayed. ``<journal>.offset`` says how far it was written out as
Parquet; the part written from offset ``o`` is named ``<journal id>-<o>``, so a replay rewrites
the same part instead of duplicating rows.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path

__all__ = ["Journal", "read_offset", "try_lock", "write_offset"]

_INITIAL = 1 << 20
_MAX_GROWTH = 64 << 20


class Journal:
    """Appends records to one journal file. Not thread-safe: the caller holds a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.id = path.name.split(".")[0]
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.size = _INITIAL
            os.posix_fallocate(self._fd, 0, self.size)
            self.map = mmap.mmap(self._fd, self.size)
        except BaseException:
            os.close(self._fd)
            path.unlink(missing_ok=True)
            raise
        self.position = 0

    def append(self, record: bytes) -> None:
        """Copy one complete record (ending in a newline) into the journal."""
        end = self.position + len(record)
        if end > self.size:
            size = self.size
            while size < end:
                size += min(size, _MAX_GROWTH)
            os.posix_fallocate(self._fd, self.size, size - self.size)
            self.map.close()
            self.map = mmap.mmap(self._fd, size)
            self.size = size
        self.map[self.position : end] = record
        self.position = end

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start:end`` of what was appended."""
        return bytes(self.map[start:end])

    def close(self, delete: bool) -> None:
        """Unmap and release the lock; ``delete`` removes the file (and its offset) first."""
        if self._fd < 0:
            return
        if delete:
            self.path.unlink(missing_ok=True)
            offset_path(self.path).unlink(missing_ok=True)
        self.map.close()
        os.close(self._fd)
        self._fd = -1

    def forget(self) -> None:
        """Close without touching the file (a forked child's copy is not its own)."""
        if self._fd >= 0:
            self.map.close()
            os.close(self._fd)
            self._fd = -1


def offset_path(journal: Path) -> Path:
    """The file holding how far ``journal`` was written out."""
    return journal.with_name(journal.name + ".offset")


def read_offset(journal: Path) -> int:
    """How far ``journal`` was written out (0 when never)."""
    try:
        return int(offset_path(journal).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def write_offset(journal: Path, offset: int) -> None:
    """Record (atomically) that ``journal`` was written out up to ``offset``."""
    path = offset_path(journal)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(str(offset))
    os.replace(tmp, path)


def try_lock(path: Path) -> int | None:
    """Open ``path`` and take its lock without waiting: a descriptor, or None if held/missing."""
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


def complete_records(data: bytes) -> bytes:
    """The complete lines of ``data``: up to the first NUL, then up to the last newline."""
    nul = data.find(b"\x00")
    if nul >= 0:
        data = data[:nul]
    return data[: data.rfind(b"\n") + 1]
