"""The background writer: one thread per process that ingests every open journal in batches.

``log()`` never waits for it. It wakes every ``flush_interval`` seconds, moves what was appended
since its last pass into the store in one transaction per journal, and updates heartbeats. If the
store is unreachable it keeps the records (they are in the journal) and tries again next pass.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from loopml._config import Settings
from loopml.store import OffsetMismatch, RunBackend
from loopml.tracking._journal import JournalWriter, read_segment

logger = logging.getLogger("loopml")
_CHECKPOINT_INTERVAL = 5.0


class OpenJournal:
    """A journal this process writes: its file, and how much of it the store holds."""

    def __init__(
        self, run_id: str, journal_id: str, path: Path, spare: JournalWriter | None = None
    ) -> None:
        self.run_id = run_id
        self.journal_id = journal_id
        self.path = path
        if spare is not None:
            spare.reuse(path)
            self.file = spare
        else:
            self.file = JournalWriter(path)
        self.ingested = 0
        self.append_lock = threading.Lock()  # held by log() while it appends
        self.ingest_lock = threading.Lock()  # one ingest of this journal at a time


def flush(
    backend: RunBackend,
    journal: OpenJournal,
    final: dict[str, Any] | None = None,
    close: bool = False,
) -> bool:
    """Ingest what the journal holds beyond ``journal.ingested`` (and, with ``final``, end the run).

    True when the backend wrote a segment, which marks the run alive as well.
    """
    with journal.ingest_lock:
        for _ in range(3):
            end = journal.file.position
            if end == journal.ingested and final is None and not close:
                return False
            segment = read_segment(journal.path, journal.ingested, end)
            try:
                wrote = backend.ingest(
                    journal.journal_id,
                    journal.run_id,
                    segment.batch,
                    segment.start,
                    segment.end,
                    final=final,
                    close=close,
                )
            except OffsetMismatch as exc:
                journal.ingested = exc.stored  # someone else ingested part; continue from there
                continue
            journal.ingested = segment.end
            return bool(wrote)
    return False


class BackgroundWriter:
    """Owns the thread that ingests the open journals of one backend."""

    def __init__(self, backend: RunBackend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings
        self._journals: dict[str, OpenJournal] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._last_heartbeat = 0.0
        self._last_checkpoint = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="loopml-writer", daemon=True)
        self._thread.start()

    def add(self, journal: OpenJournal) -> None:
        """Start ingesting ``journal``."""
        with self._lock:
            self._journals[journal.journal_id] = journal

    def remove(self, journal: OpenJournal) -> None:
        """Stop ingesting ``journal`` (its owner flushes it one last time)."""
        with self._lock:
            self._journals.pop(journal.journal_id, None)

    def stop(self) -> None:
        """Stop the thread after its current pass."""
        self._stop = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        interval = self.settings.flush_interval
        while not self._stop:
            self._wake.wait(interval)
            self._wake.clear()
            if self._stop:
                break
            self.pass_once()

    def pass_once(self) -> None:
        """Ingest every open journal once, and beat the heartbeat when due."""
        with self._lock:
            journals = list(self._journals.values())
        ingested: set[str] = set()
        for journal in journals:
            try:
                if flush(self.backend, journal):
                    ingested.add(journal.run_id)
            except Exception as exc:  # the records stay in the journal; next pass retries
                logger.warning(
                    "loopml: could not ingest run %s yet (%s); will retry", journal.run_id, exc
                )
        if time.monotonic() - self._last_checkpoint >= _CHECKPOINT_INTERVAL:
            self._last_checkpoint = time.monotonic()
            try:
                self.backend.maintain()  # here, not inside some user's commit
            except Exception as exc:
                logger.warning("loopml: store upkeep failed (%s); will retry", exc)
        now = time.time()
        if journals and now - self._last_heartbeat >= self.settings.heartbeat_interval:
            # An ingest marks its run alive in its own transaction: only idle runs need a beat.
            idle = sorted({j.run_id for j in journals} - ingested)
            try:
                if idle:
                    self.backend.heartbeat(idle)
                self._last_heartbeat = now
            except Exception as exc:
                logger.warning("loopml: heartbeat failed (%s); will retry", exc)
