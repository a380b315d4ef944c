"""Append-only run journals: the one place a ``log()`` call writes to.

The writer (a memory-mapped, append-only file; see ``loopml._journal``) is shared with the model
server's prediction log. What the records say is owned by ``_journal_records.py`` (writers and
parser side by side); this module names the files and reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loopml._journal import JournalWriter, try_lock
from loopml.store import Batch
from loopml.tracking._journal_records import parse_records

__all__ = [
    "SPARE_SUFFIX",
    "JournalWriter",
    "Segment",
    "journal_name",
    "parse_journal_name",
    "read_records",
    "read_segment",
    "try_lock",
]

SPARE_SUFFIX = ".spare"


def journal_name(run_id: str, journal_id: str) -> str:
    """The file name of a journal: its run id, then its own id."""
    return f"{run_id}.{journal_id}.journal"


def parse_journal_name(path: Path) -> tuple[str, str] | None:
    """``(run_id, journal_id)`` from a journal file name, or None for other files."""
    parts = path.name.split(".")
    if len(parts) != 3 or parts[2] != "journal":
        return None
    return parts[0], parts[1]


@dataclass
class Segment:
    """Records read from a journal: the batch, the byte range it covers, and any cut record."""

    batch: Batch
    start: int
    end: int
    truncated: bytes = b""


def read_records(path: Path, start: int, end: int | None = None) -> tuple[bytes, bytes]:
    """The complete records from byte ``start`` (to ``end``, or to the first NUL byte), and
    the bytes of a record cut short after them (empty if none)."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(end - start)
    nul = data.find(b"\x00")
    if nul >= 0:
        data = data[:nul]
    last_nl = data.rfind(b"\n")
    return data[: last_nl + 1], data[last_nl + 1 :]


def read_segment(path: Path, start: int, end: int | None = None) -> Segment:
    """Parse the complete records from byte ``start`` (to ``end``, or to the first NUL byte)."""
    complete, truncated = read_records(path, start, end)
    return Segment(parse_records(complete), start, start + len(complete), truncated)
