"""The background writer: one thread per process that ingests every open journal in batches.

``log()`` never waits for it. It wakes every ``flush_interval`` seconds, moves what was appended
since its last pass into the store in one transaction per journal, and updates heartbeats. If the
store is unreachable it keeps the records (they are in the journal) and tries again next pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml._config import Settings
from loopml.store import OffsetMismatch, RunBackend
from loopml.tracking._journal import JournalWriter, read_records, read_segment
from loopml.tracking._threads import start_soon

logger = logging.getLogger("loopml")
_CHECKPOINT_INTERVAL = 5.0
# The most journal bytes one upload carries (about 80,000 points): bounds the server's memory
# per request and keeps each request well under its body limit.
UPLOAD_BYTES = 4 << 20


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

    A backend with ``ingest_records`` (the team server's client) is sent the journal's own
    bytes, parsed on its side; any other is sent the parsed batch. True when the store took
    new records (which also marked the run alive).
    """
    upload = getattr(backend, "ingest_records", None)
    with journal.ingest_lock:
        for _ in range(3):
            end = journal.file.position
            if end == journal.ingested and final is None and not close:
                return False
            try:
                if upload is not None:
                    return _upload(upload, journal, end, final, close)
                segment = read_segment(journal.path, journal.ingested, end)
                stored = backend.ingest(
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
            return bool(stored)
        return False


def _upload(
    upload: Callable[..., bool],
    journal: OpenJournal,
    end: int,
    final: dict[str, Any] | None,
    close: bool,
) -> bool:
    """Send the journal's complete records up to ``end`` in pieces of at most ``UPLOAD_BYTES``
    (cut at record ends); only the last piece ends the run or closes the journal."""
    data, _ = read_records(journal.path, journal.ingested, end)
    start = journal.ingested
    stored = False
    while True:
        cut = len(data)
        if cut > UPLOAD_BYTES:
            cut = data.rfind(b"\n", 0, UPLOAD_BYTES) + 1 or data.find(b"\n") + 1
        last = cut == len(data)
        stored |= upload(
            journal.journal_id,
            journal.run_id,
            data[:cut],  # the whole of it when last (a full slice is the same object)
            start,
            start + cut,
            final=final if last else None,
            close=close and last,
        )
        start += cut
        journal.ingested = start
        if last:
            return bool(stored)
        data = data[cut:]


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
        self._launched = start_soon(self._thread)  # made on loopml.init's path: do not wait

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
            self._launched.wait(timeout=30)
            if self._thread.ident is not None:  # it did start
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
            # An ingest marks its run alive in the same transaction: beat only for the others
            # (to a team server, one request less per pass of a run that is logging).
            quiet = sorted({j.run_id for j in journals} - ingested)
            try:
                if quiet:
                    self.backend.heartbeat(quiet)
                self._last_heartbeat = now
            except Exception as exc:
                logger.warning("loopml: heartbeat failed (%s); will retry", exc)
