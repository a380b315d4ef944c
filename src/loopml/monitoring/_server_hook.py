"""The monitor a model server runs: ``loopml serve NAME@ALIAS`` starts it in every worker, and
the one worker that takes the model's service lock runs the scheduler (the others wait to take
over should it die). Each tick computes the windows closed since the last one (when the model
has a monitor: closed for the clock and for the log's watermark, see ``run``), recomputes those
that late rows reached, and compacts the prediction log's closed hours. Every worker's
``/metrics`` adds the monitor's latest values, read from the store, so any worker answers the
same numbers.

Serving never imports this package (monitoring sits above it): ``loopml serve`` names
``loopml.monitoring:serve_hook`` in the server's configuration and the server calls it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import TYPE_CHECKING

from loopml._errors import LoopmlError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = ["ServerMonitor", "serve_hook"]

_log = logging.getLogger("loopml.monitoring")
_FIRST_TICK = 5.0  # seconds after the start (at most ``every``)
_SCRAPE_CACHE = 2.0  # seconds a /metrics answer is reused (scrapes from many workers at once)


class ServerMonitor:
    """The in-server scheduler of one model (see the module docstring). Thread-safe."""

    def __init__(
        self,
        store: Store,
        model: str,
        *,
        every: float = 60.0,
        monitor: bool = True,
        compact: bool = True,
        closed_after: float = 600.0,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, (int, float)) or not every > 0:
            raise ValidationError(f"every must be a number of seconds > 0, not {every!r}")
        self.store = store
        self.model = model
        self.every = float(every)
        self.monitor = monitor
        self.compact = compact
        self.closed_after = closed_after
        self.lock = store.predictions.service_lock(model, "monitor")
        self.ticks = 0  # ticks run by this process (0 in the workers that do not hold the lock)
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="loopml-server-monitor", daemon=True
        )
        self._scrape: tuple[float, bytes] | None = None
        self._stale: list[str] = []  # the stuck log writers last reported
        self._scrape_lock = threading.Lock()

    def start(self) -> ServerMonitor:
        """Start the background thread (once)."""
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current tick and let the lock go (another server may take over)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.lock.release()

    def tick(self) -> None:
        """One round: the windows closed since the last run, then the log's closed hours."""
        from loopml.monitoring._monitor import run

        if self.monitor:
            try:
                result = run(self.model, store=self.store)
                if result.windows or result.alerts:
                    _log.warning(
                        "monitor %s: %d window(s), %d alert(s)",
                        self.model,
                        result.windows,
                        len(result.alerts),
                    )
                if result.recomputed:
                    _log.warning(
                        "monitor %s: %d late row(s) landed after their window was computed; "
                        "recomputed %d window(s) from %s",
                        self.model,
                        result.late_rows,
                        len(result.recomputed),
                        _utc(result.recomputed[0]),
                    )
                if result.stale_writers != self._stale:
                    self._stale = result.stale_writers
                    if self._stale:
                        _log.warning(
                            "monitor %s: going on without %d stuck log writer(s) (%s); their "
                            "rows will land late and their windows be recomputed",
                            self.model,
                            len(self._stale),
                            ", ".join(self._stale),
                        )
            except NotFoundError:
                # No monitor yet: `loopml monitor init {self.model}` makes one, used next tick.
                pass
        if self.compact:
            done = self.store.predictions.compact(self.model, closed_after=self.closed_after)
            for why in done.skipped:
                _log.warning("compacting %s's log: %s", self.model, why)
        self.ticks += 1

    def _loop(self) -> None:
        # The first tick waits a little: the server's first requests come before its imports.
        self._stop.wait(min(self.every, _FIRST_TICK))
        while not self._stop.is_set():
            try:
                if self.lock.acquire():
                    self.tick()
                    self.last_error = None
            except (LoopmlError, OSError) as exc:  # the next tick tries again
                self.last_error = str(exc)
                _log.warning("the server's monitor of %s failed: %s", self.model, exc)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                _log.exception("the server's monitor of %s failed", self.model)
            self._stop.wait(self.every)

    def exposition(self) -> bytes:
        """The monitor's latest values in Prometheus' text format (empty without a monitor)."""
        with self._scrape_lock:
            now = time.monotonic()
            if self._scrape is not None and now - self._scrape[0] < _SCRAPE_CACHE:
                return self._scrape[1]
            from prometheus_client import CollectorRegistry, generate_latest

            from loopml.monitoring._views import register_prometheus

            registry = CollectorRegistry(auto_describe=False)
            register_prometheus(registry, models=[self.model], store=self.store)
            try:
                text = generate_latest(registry)
            except Exception:  # a store hiccup must not break the server's own metrics
                _log.exception("reading %s's monitor values failed", self.model)
                text = b""
            self._scrape = (now, text)
            return text


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")


def serve_hook(
    *,
    store: Store,
    model: str,
    log: bool = True,
    every: float = 60.0,
    monitor: bool | None = True,
    compact: bool = True,
) -> ServerMonitor | None:
    """Start the model server's monitor (called by the server with its store and model).

    ``monitor=None``: run the model's monitor if it has one. The worker finds out here, once it
    answers, so that ``loopml serve`` needs no SQL before its workers start. ``None`` when there
    is nothing to do (no monitor, no log to compact).
    """
    if monitor is None:
        try:
            store.monitors.get_monitor(model)
            monitor = True
        except NotFoundError:
            monitor = False
    compact = compact and log
    if not monitor and not compact:
        return None
    return ServerMonitor(store, model, every=every, monitor=monitor, compact=compact).start()
