"""Run monitors on a schedule inside a long-lived process (``loopml serve`` starts one).

``loopml monitor run --every 60s`` is the same loop in the foreground. Each tick computes only
the windows that closed since the last one, so a tick that overruns or a restart loses nothing:
the next tick catches up from the store's last window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from loopml._errors import LoopmlError, ValidationError
from loopml.monitoring._monitor import MonitorRun, _store, run

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = ["MonitorScheduler"]


class MonitorScheduler:
    """A daemon thread that runs ``run(model)`` for each model every ``every`` seconds.

    Thread-safe to start and stop from another thread; errors of one tick (a log not written
    yet, a store briefly unavailable) are passed to ``on_error`` and the next tick tries again.
    """

    def __init__(
        self,
        models: Sequence[str],
        every: float = 60.0,
        *,
        store: Store | None = None,
        on_run: Callable[[MonitorRun], None] | None = None,
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> None:
        if not models:
            raise ValidationError("give at least one model to monitor")
        if not float(every) > 0:
            raise ValidationError(f"every is a number of seconds > 0, got {every!r}")
        self.models = list(models)
        self.every = float(every)
        self._store = _store(store)
        self._on_run = on_run
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    def tick(self) -> list[MonitorRun]:
        """Run every model once now."""
        done = []
        for model in self.models:
            try:
                result = run(model, store=self._store)
            except (LoopmlError, OSError) as exc:
                if self._on_error is not None:
                    self._on_error(model, exc)
                continue
            done.append(result)
            if self._on_run is not None:
                self._on_run(result)
        self.ticks += 1
        return done

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.every)

    def start(self) -> MonitorScheduler:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="loopml-monitor", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current tick."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
