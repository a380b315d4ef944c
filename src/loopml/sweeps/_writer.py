"""The sweep's background writer: trial batches go to the store off the controller's thread.

A write transaction can take tens of milliseconds on a busy machine; done on the controller's
thread it would stall every worker waiting for a pruning decision. The writer takes snapshots
(the controller keeps mutating its own records), coalesces whatever has queued up into one
transaction, and keeps the order: a later snapshot of a trial replaces an earlier one.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from typing import Any

from loopml.store import SweepStore, TrialWrite

__all__ = ["TrialWriter"]


class TrialWriter:
    """One thread writing trial batches in order; ``drain()`` waits and re-raises its error."""

    def __init__(
        self, sweeps: SweepStore, project: str, sweep_id: str, attributes: dict[str, Any]
    ) -> None:
        self._sweeps = sweeps
        self._args = (project, sweep_id, attributes)
        self._cond = threading.Condition()
        self._queued: dict[int, TrialWrite] = {}
        self._busy = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="loopml-sweep-writer", daemon=True)
        self._thread.start()

    def submit(self, trials: Iterable[TrialWrite]) -> None:
        """Queue snapshots of ``trials`` for the next transaction."""
        snapshots = {t.number: dataclasses.replace(t) for t in trials}
        with self._cond:
            self._raise()
            self._queued.update(snapshots)
            self._cond.notify_all()

    def drain(self) -> None:
        """Wait until everything submitted is written (re-raising a write's error)."""
        with self._cond:
            while (self._queued or self._busy) and self._error is None:
                self._cond.wait()
            self._raise()

    def close(self) -> None:
        """Drain, then stop the thread."""
        try:
            self.drain()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join(timeout=10)

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queued and not self._closed:
                    self._cond.wait()
                if not self._queued:
                    return
                batch, self._queued = list(self._queued.values()), {}
                self._busy = True
            try:
                self._sweeps.write_trials(*self._args[:2], self._args[2], batch)
            except BaseException as exc:  # handed to the controller's thread
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
