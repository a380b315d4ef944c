"""Append-only journals written through a shared memory map: what a request or a ``log()`` call
writes to, and nothing else. The tracking runs and the model server's prediction log both use
:class:`JournalWriter`; each owns what its records say and how they are read back.

An append is a copy into the page cache, with no system call, and what was copied survives the
process being killed (the kernel owns the pages). The file is reserved ahead with
``posix_fallocate``, so a full disk fails at reservation time, never as a SIGBUS mid-write.
Unwritten space is zero bytes, and no record contains one: a record is complete exactly when it
ends in a newline and holds no NUL, which is how a reader finds a record cut by a kill.

The writing process holds an exclusive ``flock`` on the file for its whole life; a journal whose
lock can be taken belongs to a dead process and is recovered.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
import weakref
from pathlib import Path

__all__ = ["JournalWriter", "complete_records", "try_lock"]

# Small to start: the first touch of a mapped page costs more the larger the file (fault-around).
_INITIAL_SIZE = 1 << 16
_MAX_GROWTH = 64 << 20


_OPEN_WRITERS: weakref.WeakSet[JournalWriter] = weakref.WeakSet()


class JournalWriter:
    """Appends records to one journal through a memory map. Not thread-safe: callers lock.

    A finished small journal can be kept as a spare (``retire``) and given to the next run
    (``reuse``): closing a file whose space was reserved costs far more than zeroing 64 KiB.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Made under a name no recovery pass looks at, locked, and only then published under
        # its own: a pass (another thread or process) that probes every journal's lock must never
        # find this one unlocked and empty, take it for a dead writer's, and delete it.
        hidden = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.new")
        self._fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.size = _INITIAL_SIZE
            os.posix_fallocate(self._fd, 0, self.size)
            self.map = mmap.mmap(self._fd, self.size)
            os.link(hidden, path)  # FileExistsError if the journal exists, as O_EXCL would
        except BaseException:
            os.close(self._fd)
            raise
        finally:
            hidden.unlink(missing_ok=True)
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


def complete_records(data: bytes) -> bytes:
    """The complete records of ``data``: up to the first NUL, then up to the last newline."""
    nul = data.find(b"\x00")
    if nul >= 0:
        data = data[:nul]
    return data[: data.rfind(b"\n") + 1]
