"""The prediction log's crash-safe journal: what the request path writes, and nothing else.

One journal per serving process, written by the same memory-mapped writer as the tracking runs'
journals (``loopml._journal``: an append is a memory copy that survives SIGKILL; space reserved
with ``posix_fallocate``; a reader stops at the first NUL and drops a line without its newline,
a record cut by the kill, never answered). A record is one line of JSON.

The process holds an exclusive ``flock`` for its life: a journal whose lock can be taken belongs
to a dead process and is replayed. ``<journal>.offset`` says how far it was written out as
Parquet; the part written from offset ``o`` is named ``<journal id>-<o>``, so a replay rewrites
the same part instead of duplicating rows.
"""

from __future__ import annotations

import os
from pathlib import Path

from loopml._journal import JournalWriter, complete_records, try_lock

__all__ = ["Journal", "complete_records", "read_offset", "try_lock", "write_offset"]


class Journal(JournalWriter):
    """One serving process's journal. Not thread-safe: the caller holds a lock."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.id = path.name.split(".")[0]

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start:end`` of what was appended."""
        return bytes(self.map[start:end])

    def close(self, delete: bool) -> None:
        """Unmap and release the lock; ``delete`` removes the file (and its offset) first."""
        if self._fd < 0:
            return
        if delete:
            offset_path(self.path).unlink(missing_ok=True)
        super().close(delete)


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
