"""Replaying journals left behind by processes that died, and ending their runs as ``crashed``."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from loopml.store import OffsetMismatch, RunBackend
from loopml.tracking._journal import SPARE_SUFFIX, parse_journal_name, read_segment, try_lock


@dataclass
class RecoveryReport:
    """What a recovery pass did."""

    journals: int = 0
    points: int = 0
    runs_crashed: list[str] = field(default_factory=list)
    truncated: list[Path] = field(default_factory=list)


def recover(backend: RunBackend, folder: Path, stale_after: float) -> RecoveryReport:
    """Ingest every journal whose writer is gone; mark its run ``crashed`` if still running.

    A journal whose lock is held belongs to a live process and is left alone. A record cut short
    by the kill is set aside in ``<journal>.partial`` for inspection; the rest is ingested.
    Runs on other machines that stopped beating their heartbeat are marked ``crashed`` too.
    """
    report = RecoveryReport()
    paths = sorted(folder.glob("*.journal")) if folder.is_dir() else []
    for path in paths:
        names = parse_journal_name(path)
        if names is None:
            continue
        fd = try_lock(path)
        if fd is None:
            continue  # a live process owns it
        try:
            if _recover_one(backend, path, *names, report):
                report.journals += 1
        finally:
            os.close(fd)
    for spare in sorted(folder.glob(f"*{SPARE_SUFFIX}")) if folder.is_dir() else []:
        fd = try_lock(spare)  # a spare kept by a live process stays; a dead one's goes
        if fd is not None:
            spare.unlink(missing_ok=True)
            os.close(fd)
    report.runs_crashed += backend.mark_stale_crashed(stale_after)
    return report


def _recover_one(
    backend: RunBackend, path: Path, run_id: str, journal_id: str, report: RecoveryReport
) -> bool:
    offset = backend.journal_offset(journal_id)
    segment = read_segment(path, offset or 0)
    if offset is None and (segment.batch.create is None or backend.status(run_id) is not None):
        # Closed already: the writer died between its last commit and deleting the file.
        path.unlink(missing_ok=True)
        return False
    if segment.truncated:
        with open(path.with_name(path.name + ".partial"), "ab") as f:
            f.write(segment.truncated + b"\n")
        report.truncated.append(path)
    last = max((p[1] for p in segment.batch.points), default=time.time())
    final = {"status": "crashed", "ended_at": last}
    try:
        backend.ingest(
            journal_id, run_id, segment.batch, segment.start, segment.end, final=final, close=True
        )
    except OffsetMismatch:
        return False  # someone else is recovering it; they will finish
    report.points += len(segment.batch.points)
    if backend.status(run_id) == "crashed":
        report.runs_crashed.append(run_id)
    path.unlink(missing_ok=True)
    return True
