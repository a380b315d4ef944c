"""The local executor: a pool of warm worker processes on this machine.

Workers are forked once and reused. ``setup`` runs once, in the sweep's process, just before
the fork: every worker (and every replacement) inherits the imports and data it loaded, shared
copy-on-write, instead of loading them again per worker.

Trials go to a worker in chunks sized from the measured trial time, so a trivial objective does
not pay a pipe round trip per trial while a slow one is handed out one at a time (which keeps
the sampler's information fresh and timeouts exact). Short trials are also queued a chunk
ahead, so a worker never waits for the sweep; slow ones are not, because a trial queued behind
a running one can leave the other workers idle at the end of the sweep.

Each worker limits its BLAS thread pools so that ``parallel`` workers do not oversubscribe the
cores. A worker that dies, or runs a trial past its timeout (it is killed), is replaced, and its
trial reported ``Lost``.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from loopml.sweeps._executor import ChunkSizer, Event, Lost, Report, thread_env
from loopml.sweeps._sigint import ignore_sigint, sigint_held
from loopml.sweeps._trial import TrialResult, TrialSpec, execute_trial

__all__ = ["LocalExecutor"]

_MAX_CHUNK = 256
_CHUNK_SECONDS = 0.02  # a chunk holds about this much work
_PREFETCH_BELOW = 0.05  # queue a chunk ahead only for trials shorter than this (seconds)


def _worker_main(
    conn: Connection,
    objective: Callable[..., Any],
    metric: str,
    setup: Callable[[], Any] | None,
    threads: int,
) -> None:
    ignore_sigint()  # the terminal's Ctrl-C reaches the whole process group; the sweep decides
    # BLAS and OpenMP read these when they load; pools loaded already (NumPy imported before the
    # fork) are capped through threadpoolctl, which costs a worker tens of milliseconds.
    os.environ.update(thread_env(threads))
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads)
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            pass
    if hasattr(objective, "threads"):
        objective.threads = threads
    if setup is not None:
        from loopml.sweeps import _worker_state

        _worker_state.value = setup()
    queue: deque[TrialSpec] = deque()

    def reporter(number: int, step: int, value: float) -> bool:
        conn.send(("report", number, step, value))
        while True:
            msg = conn.recv()
            if msg[0] == "prune":
                return bool(msg[1])
            if msg[0] == "chunk":
                queue.extend(msg[1])

    while True:
        if not queue:
            try:
                msg = conn.recv()
            except EOFError:
                return
            if msg[0] == "stop":
                return
            queue.extend(msg[1])
            continue
        spec = queue.popleft()
        conn.send(("result", execute_trial(objective, spec, metric, reporter)))


class _Worker:
    def __init__(self, ctx: Any, target: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=target, args=(child, *args), daemon=True, name="loopml-sweep-worker"
        )
        with sigint_held():
            self.process.start()
        child.close()
        self.queue: deque[TrialSpec] = deque()
        self.head_started = time.monotonic()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class LocalExecutor:
    """Warm worker processes on this machine (see the module docstring)."""

    def __init__(
        self, parallel: int, timeout_per_trial: float | None = None, threads: int | None = None
    ) -> None:
        self.parallel = parallel
        self.timeout = timeout_per_trial
        cores = os.cpu_count() or 1
        self.threads = threads or max(1, cores // parallel)
        self.workers: list[_Worker] = []
        self.sizer = ChunkSizer(
            _CHUNK_SECONDS, timed=timeout_per_trial is not None, most=_MAX_CHUNK
        )
        self.requeue: list[TrialSpec] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def start(
        self, objective: Callable[..., Any], metric: str, setup: Callable[[], Any] | None
    ) -> None:
        """Run ``setup`` here, then fork ``parallel`` workers that inherit what it loaded."""
        # fork: workers inherit the objective (closures and notebook functions work) and the
        # parent's imports, so the first trial starts within milliseconds.
        fork = "fork" in mp.get_all_start_methods()
        self._ctx = mp.get_context("fork" if fork else "spawn")
        if setup is not None and fork:
            from loopml.sweeps import _worker_state

            _worker_state.value = setup()
            setup = None
        self._args = (objective, metric, setup, self.threads)
        self.workers = [self._spawn() for _ in range(self.parallel)]

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, _worker_main, self._args)

    def shutdown(self, kill: bool = False) -> None:
        """Stop every worker (kill them at once with ``kill``)."""
        for w in self.workers:
            if not kill:
                try:
                    w.conn.send(("stop",))
                    w.process.join(timeout=5)
                except (OSError, BrokenPipeError):
                    pass
            w.kill()
        self.workers = []

    @property
    def chunk(self) -> int:
        """Trials per chunk handed to a worker."""
        return self.sizer.chunk

    # -- feeding -------------------------------------------------------------------------------
    def _depth(self) -> int:
        """How many specs a worker should hold: two chunks for short trials, else the one it runs."""
        short = self.sizer.known and self.sizer.mean < _PREFETCH_BELOW
        return 2 * self.chunk if short else self.chunk

    def wanted(self) -> int:
        """Enough specs to bring each worker whose queue is under a chunk up to its depth."""
        depth = self._depth()
        return sum(depth - len(w.queue) for w in self.workers if len(w.queue) < self.chunk)

    def submit(self, specs: list[TrialSpec]) -> None:
        """Hand specs out to the least loaded workers, a chunk at a time."""
        specs = list(specs)
        while specs:
            w = min(self.workers, key=lambda w: len(w.queue))
            n = max(1, self._depth() - len(w.queue))
            part, specs = specs[:n], specs[n:]
            if not w.queue:
                w.head_started = time.monotonic()
            w.queue.extend(part)
            w.conn.send(("chunk", part))

    def in_flight(self) -> list[int]:
        """Numbers of the trials queued on or running in a worker."""
        return [s.number for w in self.workers for s in w.queue]

    # -- events --------------------------------------------------------------------------------
    def poll(self, timeout: float) -> list[Event]:
        """Collect results, reports and lost trials (killing workers past their timeout)."""
        events: list[Event] = []
        now = time.monotonic()
        if self.timeout is not None:
            for w in list(self.workers):
                if w.queue and now - w.head_started > self.timeout:
                    events.append(
                        self._replace(
                            w,
                            "timeout",
                            f"the trial ran past its timeout of {self.timeout:g} s; its worker was killed",
                        )
                    )
            deadlines = [w.head_started + self.timeout - now for w in self.workers if w.queue]
            if deadlines:
                timeout = max(0.0, min(timeout, min(deadlines) + 0.001))
        if events:
            return events
        by_conn = {w.conn: w for w in self.workers}
        by_sentinel = {w.process.sentinel: w for w in self.workers}
        ready = wait([*by_conn, *by_sentinel], timeout)
        for obj in ready:
            w = by_conn.get(obj)  # type: ignore[assignment]
            if w is None:
                continue
            try:
                while w.conn.poll():
                    events.append(self._message(w, w.conn.recv()))
            except (EOFError, OSError):
                pass  # handled below as a dead worker
        for obj in ready:
            w = by_sentinel.get(obj)  # type: ignore[assignment]
            if w is not None and w in self.workers and not w.process.is_alive():
                code = w.process.exitcode
                if not w.queue:  # died idle (e.g. killed from outside): nothing was lost
                    w.kill()
                    self.workers[self.workers.index(w)] = self._spawn()
                    continue
                events.append(
                    self._replace(
                        w, "died", f"the worker process running it died (exit code {code})"
                    )
                )
        return events

    def _message(self, w: _Worker, msg: tuple[Any, ...]) -> Event:
        if msg[0] == "result":
            result: TrialResult = msg[1]
            if w.queue and w.queue[0].number == result.number:
                w.queue.popleft()
            w.head_started = time.monotonic()
            self.sizer.learn(result.duration)
            return result
        number, step, value = msg[1], msg[2], msg[3]

        def answer(stop: bool) -> None:
            with contextlib.suppress(OSError, BrokenPipeError):
                w.conn.send(("prune", stop))

        return Report(number, step, value, answer)

    def _replace(self, w: _Worker, reason: str, detail: str) -> Lost:
        # The head of the queue was running: it is lost. The rest go back to the controller's
        # retry queue through ``requeue`` (they never started).
        head = w.queue.popleft()
        self.requeue.extend(w.queue)
        w.queue.clear()
        w.kill()
        self.workers[self.workers.index(w)] = self._spawn()
        return Lost(head.number, head.attempt, reason, detail)

    def take_requeued(self) -> list[TrialSpec]:
        """Specs that were queued on a replaced worker and never started."""
        out, self.requeue = self.requeue, []
        return out
