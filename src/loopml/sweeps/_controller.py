"""The sweep controller: ask the search for trials, hand them to an executor, tell it the results.

The search is an Optuna study (``OptunaSearch``) or, for plain random sampling, the stdlib
``RandomSearch``. One thread does it all, so the search needs no lock. Trial writes are batched:
a batch goes to the writer when it is large, when it is older than ``_FLUSH_SECONDS``, or when
the executor goes quiet; a trial is done once its result is in the store (a sweep killed before
then runs that trial again on resume, under the same number and run).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from loopml._values import encode_param, flatten
from loopml.store import TrialWrite
from loopml.sweeps._executor import Executor, Lost, Report
from loopml.sweeps._objective import cache_key
from loopml.sweeps._sigint import ctrl_c_deferred
from loopml.sweeps._trial import TrialResult, TrialSpec

if TYPE_CHECKING:
    from loopml.store import TrialRow
    from loopml.sweeps._progress import ProgressView
    from loopml.sweeps._writer import Writer

__all__ = ["Controller", "Counts", "Search"]

_FLUSH_SECONDS = 0.05
_FLUSH_ROWS = 2000


@dataclass
class Counts:
    """How many trials are in each state, for the progress bar and the summary."""

    finished: int = 0
    failed: int = 0
    pruned: int = 0
    killed: int = 0
    cached: int = 0
    running: int = 0
    best: float | None = None

    @property
    def done(self) -> int:
        """Trials that have ended."""
        return self.finished + self.failed + self.pruned


class Search(Protocol):
    """Where trials' params come from: an Optuna study, or the stdlib random search."""

    def enqueue(self, params: dict[str, Any]) -> None:
        """The next ``ask`` returns these sampled params."""

    def ask(self) -> tuple[Any, dict[str, Any], dict[str, str]]:
        """A trial's handle, its params and their distributions (Optuna's JSON form)."""

    def tell(self, handle: Any, value: float | None = None, state: str = "finished") -> None:
        """How the trial ended: ``finished`` (with its value), ``pruned`` or ``failed``."""

    def report(self, handle: Any, value: float, step: int) -> bool:
        """An intermediate value; whether the trial should stop."""


@dataclass
class _Live:
    trial: Any  # the search's handle
    spec: TrialSpec
    write: TrialWrite


class Controller:
    """Drives one sweep to its budget (see the module docstring)."""

    def __init__(
        self,
        writer: Writer,
        cached: dict[str, tuple[float, str]],
        sweep_id: str,
        project: str,
        name: str,
        metric: str,
        direction: str,
        search: Search,
        executor: Executor,
        n_trials: int,
        retries: int,
        objective_key: str,
        cache: bool,
        stored: list[TrialRow],
        runs_before_start: bool = False,
        heartbeat_interval: float = 10.0,
    ) -> None:
        self.writer = writer
        self.sweep_id = sweep_id
        self.project = project
        self.name = name
        self.metric = metric
        self.maximize = direction == "max"
        self.search = search
        self.executor = executor
        self.retries = retries
        self.objective_key = objective_key
        self.runs_before_start = runs_before_start
        self.heartbeat_interval = heartbeat_interval
        self.counts = Counts()
        self.live: dict[int, _Live] = {}
        self.pending: dict[int, TrialWrite] = {}
        self.oldest_pending: float | None = None
        self.retry: deque[TrialSpec] = deque()
        self.cache: dict[str, tuple[float, str]] = cached if cache else {}
        self.use_cache = cache
        self._last_heartbeat = time.monotonic()
        self._resume(stored)
        self.remaining = max(0, n_trials - self.counts.done - len(self.retry))
        self.next_number = max((r.number for r in stored), default=-1) + 1

    # -- resume --------------------------------------------------------------------------------
    def _resume(self, stored: list[TrialRow]) -> None:
        """Count ended trials; trials left running or killed run again, same number and run."""
        for row in stored:
            if row.state in ("finished", "pruned", "failed"):
                setattr(self.counts, row.state, getattr(self.counts, row.state) + 1)
                if row.cached_from:
                    self.counts.cached += 1
                if row.state == "finished" and row.value is not None:
                    self._note_best(row.value)
                continue
            self.search.enqueue({k: row.params[k] for k in row.distributions})
            trial, params, dists = self.search.ask()
            spec = TrialSpec(
                row.number,
                row.run_id,
                f"{self.name}-{row.number}",
                self.project,
                params,
                row.attempts + 1,
            )
            self._track(trial, spec, dists, row.started_at)
            self.retry.append(spec)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, progress: ProgressView | None = None) -> Counts:
        """Run trials until the budget is spent; on any interruption, mark the unfinished ``killed``."""
        try:
            while True:
                self._fill()
                if not self.live and not self.retry and self.remaining == 0:
                    break
                events = self.executor.poll(_FLUSH_SECONDS if self.pending else 0.5)
                for ev in events:
                    self._handle(ev)
                self.retry.extend(self.executor.take_requeued())
                if self._should_flush(not events):
                    self.flush()
                self._heartbeat()
                if progress is not None:
                    self.counts.running = len(self.live)
                    progress.update(self.counts)
        except BaseException as exc:
            reason = (
                "KeyboardInterrupt: the sweep was stopped"
                if isinstance(exc, KeyboardInterrupt)
                else f"the sweep stopped: {exc!r}"
            )
            # A second Ctrl-C (``_sigint``) ends the waits below, not the hand-over to the writer;
            # a broken pool or store must not hide the cause.
            with ctrl_c_deferred():
                for live in self.live.values():
                    live.write.state, live.write.error, live.write.ended_at = (
                        "killed",
                        reason,
                        time.time(),
                    )
                    self.pending[live.spec.number] = live.write
                    self.counts.killed += 1
                self.live.clear()
                with contextlib.suppress(Exception):
                    self.flush()
            with contextlib.suppress(Exception):
                self.executor.shutdown(kill=True)
            with contextlib.suppress(Exception):
                self.writer.drain()
            raise
        self.executor.shutdown()
        self.flush(wait=True)
        self.counts.running = 0
        if progress is not None:
            progress.update(self.counts, force=True)
        return self.counts

    def _fill(self) -> None:
        want = self.executor.wanted()
        specs: list[TrialSpec] = []
        while want > 0 and self.retry:
            specs.append(self.retry.popleft())
            want -= 1
        while want > 0 and self.remaining > 0:
            spec = self._ask()
            self.remaining -= 1
            if spec is not None:
                specs.append(spec)
                want -= 1
        if specs:
            if self.runs_before_start:
                self.flush(wait=True)  # a command's process attaches to its run: it must exist
            self.executor.submit(specs)

    def _ask(self) -> TrialSpec | None:
        """A new trial, or None when its result came from the cache (then it is already told)."""
        trial, params, dists = self.search.ask()
        number = self.next_number
        self.next_number += 1
        run_id = os.urandom(8).hex()  # 16 hex characters, as uuid4().hex[:16] gave
        spec = TrialSpec(number, run_id, f"{self.name}-{number}", self.project, params)
        live = self._track(trial, spec, dists, time.time())
        key = live.write.cache_key
        hit = self.cache.get(key) if self.use_cache and key else None
        if hit is None:
            return spec
        value, source = hit
        self.search.tell(trial, value)
        del self.live[number]
        w = live.write
        w.state, w.value, w.cached_from, w.ended_at = "finished", value, source, time.time()
        w.points = [(0, w.ended_at, self.metric, value)]
        w.tags = {"loopml.cached_from": source}
        self._queue(w)
        self.counts.finished += 1
        self.counts.cached += 1
        self._note_best(value)
        return None

    def _track(
        self, trial: Any, spec: TrialSpec, dists_json: dict[str, str], started: float
    ) -> _Live:
        encoded = {k: encode_param(k, v) for k, v in flatten(spec.params).items()}
        write = TrialWrite(
            number=spec.number,
            run_id=spec.run_id,
            name=spec.name,
            state="running",
            params=spec.params,
            encoded_params=encoded,
            distributions=dists_json,
            started_at=started,
            attempts=spec.attempt,
            objective_key=self.objective_key,
            cache_key=cache_key(self.objective_key, spec.params),
        )
        live = self.live[spec.number] = _Live(trial, spec, write)
        # Written as a running run in the next batch; a trial that ends before that batch is
        # written once, ended (the same object is queued).
        self._queue(write)
        return live

    # -- events --------------------------------------------------------------------------------
    def _handle(self, ev: Any) -> None:
        if isinstance(ev, TrialResult):
            self._result(ev)
        elif isinstance(ev, Report):
            live = self.live.get(ev.number)
            if live is None:
                ev.answer(True)
                return
            ev.answer(self.search.report(live.trial, ev.value, ev.step))
        elif isinstance(ev, Lost):
            self._lost(ev)

    def _result(self, r: TrialResult) -> None:
        live = self.live.pop(r.number, None)
        if live is None:
            return  # a duplicate (e.g. a retried Ray task whose first copy also finished)
        w = live.write
        w.state, w.value, w.error, w.ended_at = r.state, r.value, r.error, time.time()
        w.points, w.tags, w.intermediate, w.attempts = r.points, r.tags, r.intermediate, r.attempt
        w.files = r.files
        if r.params:
            w.encoded_params = {**w.encoded_params, **r.params}
        if r.state == "finished" and r.value is not None:
            self.search.tell(live.trial, r.value)
            self._note_best(r.value)
            if w.cache_key:
                self.cache[w.cache_key] = (r.value, w.run_id)
        else:
            self.search.tell(live.trial, state="pruned" if r.state == "pruned" else "failed")
        setattr(self.counts, r.state, getattr(self.counts, r.state) + 1)
        self._queue(w)

    def _lost(self, ev: Lost) -> None:
        live = self.live.get(ev.number)
        if live is None:
            return
        if ev.reason == "died" and ev.attempt <= self.retries:
            spec = TrialSpec(**{**live.spec.__dict__, "attempt": ev.attempt + 1})
            live.spec = spec
            live.write.attempts = spec.attempt
            live.write.error = f"attempt {ev.attempt}: {ev.detail}"
            self._queue(live.write)
            self.retry.append(spec)
            return
        del self.live[ev.number]
        w = live.write
        tries = f" (after {ev.attempt} attempts)" if ev.attempt > 1 else ""
        w.state, w.error, w.ended_at = "failed", f"{ev.detail}{tries}", time.time()
        self.search.tell(live.trial, state="failed")
        self.counts.failed += 1
        self._queue(w)

    # -- writing -------------------------------------------------------------------------------
    def _queue(self, write: TrialWrite) -> None:
        self.pending[write.number] = write
        if self.oldest_pending is None:
            self.oldest_pending = time.monotonic()

    def _should_flush(self, idle: bool) -> bool:
        if not self.pending:
            return False
        return (
            idle
            or len(self.pending) >= _FLUSH_ROWS
            or time.monotonic() - (self.oldest_pending or 0) > _FLUSH_SECONDS
        )

    def flush(self, wait: bool = False) -> None:
        """Hand every pending trial to the writer (and wait until it is stored, with ``wait``)."""
        if self.pending:
            self.writer.submit(self.pending.values())
            self.pending.clear()
            self.oldest_pending = None
        if wait:
            self.writer.drain()

    def _heartbeat(self) -> None:
        # Running trials' runs stay alive in the store: recovery in another process marks a
        # run with no heartbeat for ``stale_after`` seconds ``crashed``.
        now = time.monotonic()
        if now - self._last_heartbeat < self.heartbeat_interval:
            return
        self._last_heartbeat = now
        self.flush()
        self.writer.heartbeat([live.spec.run_id for live in self.live.values()])

    def _note_best(self, value: float) -> None:
        # The analysis's rule (``loopml.sweeps.best_trial``): only a finite value can be best.
        if not math.isfinite(value):
            return
        best = self.counts.best
        if best is None or (value > best if self.maximize else value < best):
            self.counts.best = value
