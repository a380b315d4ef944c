"""Late rows: rows that land in the prediction log after their window was computed.

The watermark (``loopml.serving.log_watermark``) keeps a window back until every live writer has
written it out, so rows land late only when a writer was stuck past its staleness limit, died
(its journal is replayed by another writer), or took longer than the mark's slack to journal a
record. Such rows are not lost: the window is recomputed (its values upserted, its alerts
evaluated again), as a streaming system re-fires a window for data within its allowed lateness.

Finding them costs little: each run lists only the hour folders that changed since the last run
(a folder's mtime moves when a part is renamed into it), reads the times of the parts that
appeared, and, for windows those parts reach that were computed already, compares the log's row
count with the count stored with the window's values. Equal counts (a compaction, a journal
replay of rows already written) change nothing. A process keeps what it saw per model; its first
run has nothing to compare with and checks the counts of the last day's windows instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = ["LateParts", "changed_windows", "late_parts", "windows_reached"]

RECHECK_ON_START = 86_400.0  # seconds of computed windows a process checks on its first run
_FRESH = 2.0  # a folder changed this recently may change again within its mtime's granularity

_WATCHES: dict[str, LateParts] = {}
_WATCHES_LOCK = threading.Lock()


class LateParts:
    """The part files of one model's log this process has seen, per hour folder. Thread-safe."""

    def __init__(self) -> None:
        # folder -> (its mtime, or -1 to list it again; its part names, or None: never listed)
        self._folders: dict[Path, tuple[int, frozenset[str] | None]] | None = None
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Start again from nothing (a run failed after taking the new files)."""
        with self._lock:
            self._folders = None

    def new_files(self, store: Store, model: str) -> list[Path] | None:
        """The part files that appeared since the last call; None on the first call."""
        with self._lock:
            return self._new_files(store, model)

    def _new_files(self, store: Store, model: str) -> list[Path] | None:
        reader = store.predictions
        before = self._folders
        folders = reader.hour_folders(model)
        # The first call lists only the last day's folders (the older ones are rarely written
        # again; one that is, is then read whole once).
        recent = folders[-1][0] - RECHECK_ON_START if folders else 0.0
        seen: dict[Path, tuple[int, frozenset[str] | None]] = {}
        changed: list[tuple[float, Path, int]] = []
        now_ns = time.time_ns()
        for start, folder in folders:
            try:
                mtime = folder.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            old = before.get(folder) if before is not None else None
            if old is not None and old[0] == mtime:
                seen[folder] = old
            elif before is None and start < recent:
                seen[folder] = (mtime, None)
            else:
                # Kept as "unknown" when fresh: a part renamed in within the same clock tick
                # leaves the mtime as it is, and the folder must be listed again next time.
                changed.append((start, folder, mtime if now_ns - mtime > _FRESH * 1e9 else -1))
        new: list[Path] = []
        if changed:
            lo = min(start for start, _, _ in changed)
            hi = max(start for start, _, _ in changed) + 3600
            listed: dict[Path, set[str]] = {}
            for path in reader.files(model, lo, hi):
                listed.setdefault(path.parent, set()).add(path.name)
            for _, folder, mtime in changed:
                names = frozenset(listed.get(folder, ()))
                seen[folder] = (mtime, names)
                if before is not None:
                    old = before.get(folder)
                    known = old[1] if old is not None else frozenset()
                    new += [folder / name for name in sorted(names - (known or frozenset()))]
        self._folders = seen
        return None if before is None else new


def late_parts(store: Store, model: str) -> LateParts:
    """This process's record of ``model``'s log parts (one per model and data folder)."""
    key = str(store.predictions.model_dir(model))
    with _WATCHES_LOCK:
        watch = _WATCHES.get(key)
        if watch is None:
            watch = _WATCHES[key] = LateParts()
        return watch


def windows_reached(
    store: Store, files: Sequence[Path], window_seconds: int, before: float
) -> list[float]:
    """Starts of the windows ending by ``before`` that ``files`` hold rows of."""
    if not files:
        return []
    reader = store.predictions

    def count(paths: list[Path]) -> list[float]:
        frame, _ = reader.window_aggregates(paths, window_seconds, [], None, before)
        return sorted(float(w) for w in frame["window_start"])

    # A part compacted away since the listing: its rows are in the merged file, itself new.
    return reader.read_retrying(lambda: [p for p in files if p.exists()], count)


def changed_windows(
    store: Store,
    model: str,
    window_seconds: int,
    metric: str,
    since: float,
    until: float,
    starts: Sequence[float] | None = None,
) -> dict[float, tuple[int, int]]:
    """Computed windows in [since, until) (only ``starts`` when given) whose row count in the log
    differs from the count stored with ``metric``'s value: start -> (stored, now)."""
    stored = store.monitors.values(model, window_seconds, [metric], since, until)
    if stored.empty:
        return {}
    then = {
        float(w): int(n)
        for w, n in zip(stored["window_start"].tolist(), stored["n"].tolist(), strict=True)
    }
    if starts is not None:
        wanted = {float(s) for s in starts}
        then = {w: n for w, n in then.items() if w in wanted}
    if not then:
        return {}
    lo, hi = min(then), max(then) + window_seconds
    counted, _ = store.predictions.window_aggregates(model, window_seconds, [], lo, hi)
    now = {
        float(w): int(n)
        for w, n in zip(counted["window_start"].tolist(), counted["n"].tolist(), strict=True)
    }
    return {w: (n, now.get(w, 0)) for w, n in sorted(then.items()) if now.get(w, 0) != n}
