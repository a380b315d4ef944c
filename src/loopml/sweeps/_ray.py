"""The Ray executor: trials as Ray tasks on a cluster (``executor="ray"``, extra ``ray``).

Each task runs a chunk of trials with the same ``execute_trial`` as the local pool and returns
their results to the sweep, which writes them to its store: trials on any node land in the
store of the machine that runs the sweep. Ray reuses its worker processes, so ``setup`` runs
once per worker process (cached by the sweep's id). Tasks are not retried by Ray
(``max_retries=0``): a task lost with its node or worker comes back as ``Lost`` and the sweep
retries the trial on whatever node is left, so a trial is counted once. Intermediate reports
reach the sweep's pruner through a small async actor, so pruning works on the cluster too.

The actor is pinned hard to the driver's own node: with a soft pin a busy raylet may hand it to
another node, and losing that node would then lose every pending pruning decision. If the actor
is lost anyway, trials that report to it go on unpruned and the sweep makes a new one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from loopml._errors import MissingDependencyError
from loopml.sweeps._executor import ChunkSizer, Event, Lost, Report
from loopml.sweeps._trial import TrialResult, TrialSpec, execute_trial

__all__ = ["RayExecutor"]

_SETUP_DONE: dict[str, Any] = {}


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "executor='ray' needs Ray: pip install 'loopml[ray]'"
        ) from None
    return ray


def _run_chunk(
    key: str,
    objective: Callable[..., Any],
    metric: str,
    setup: Callable[[], Any] | None,
    threads: int,
    specs: list[TrialSpec],
    bridge: Any,
) -> list[TrialResult]:
    import ray

    from loopml.sweeps import _worker_state

    if key not in _SETUP_DONE:
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads)
        except ImportError:  # pragma: no cover
            pass
        _SETUP_DONE[key] = setup() if setup is not None else None
    _worker_state.value = _SETUP_DONE[key]

    def reporter(number: int, step: int, value: float) -> bool:
        try:
            return bool(ray.get(bridge.report.remote(number, step, value)))
        except ray.exceptions.RayActorError:
            # The sweep lost its bridge (and may be making a new one): no pruning decision can
            # come back for this trial, so it runs to the end rather than failing.
            return False

    return [execute_trial(objective, spec, metric, reporter) for spec in specs]


class _Bridge:
    """An async actor: trials' reports wait here for the sweep's pruning decision."""

    def __init__(self) -> None:
        import asyncio

        self._asyncio = asyncio
        self.waiting: dict[tuple[int, int], Any] = {}
        self.reports: list[tuple[int, int, float]] = []

    async def report(self, number: int, step: int, value: float) -> bool:
        future = self._asyncio.get_running_loop().create_future()
        self.waiting[(number, step)] = future
        self.reports.append((number, step, value))
        return bool(await future)

    async def take(self) -> list[tuple[int, int, float]]:
        out, self.reports = self.reports, []
        return out

    async def answer(self, number: int, step: int, stop: bool) -> None:
        future = self.waiting.pop((number, step), None)
        if future is not None and not future.done():
            future.set_result(stop)


class RayExecutor:
    """Trials as Ray tasks (see the module docstring)."""

    def __init__(
        self, parallel: int, timeout_per_trial: float | None = None, address: str | None = None
    ) -> None:
        self.parallel = parallel
        self.timeout = timeout_per_trial
        self.address = address
        # A Ray task costs about a millisecond: a chunk holds about 50 ms of work.
        self.sizer = ChunkSizer(0.05, timed=timeout_per_trial is not None)
        self.tasks: dict[Any, tuple[list[TrialSpec], float]] = {}
        self.requeue: list[TrialSpec] = []

    @property
    def chunk(self) -> int:
        """Trials per Ray task."""
        return self.sizer.chunk

    def start(
        self, objective: Callable[..., Any], metric: str, setup: Callable[[], Any] | None
    ) -> None:
        """Connect to the cluster (``address``) or start a local Ray, and make the pruning bridge."""
        ray = self._ray = _import_ray()
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.parallel, include_dashboard=False, log_to_driver=False)
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_run_chunk)
        self._key = uuid.uuid4().hex
        self._bridges = 0
        self._bridge = self._new_bridge()
        self._args = (self._key, ray.put(objective), metric, setup, 1)

    def _new_bridge(self) -> Any:
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # Hard pin to the sweep's own node: the bridge must outlive any worker node, and if the
        # driver's node dies the sweep is gone anyway (see the module docstring).
        here = NodeAffinitySchedulingStrategy(
            node_id=ray.get_runtime_context().get_node_id(), soft=False
        )
        self._bridges += 1
        # Named, so that ``ray list actors`` shows whose it is.
        name = f"loopml-sweep-bridge-{self._key[:12]}-{self._bridges}"
        return (
            ray.remote(num_cpus=0)(_Bridge)
            .options(name=name, max_concurrency=1000, scheduling_strategy=here)
            .remote()
        )

    def _take_reports(self) -> list[tuple[int, int, float]]:
        ray = self._ray
        try:
            reports: list[tuple[int, int, float]] = ray.get(self._bridge.take.remote())
        except ray.exceptions.RayActorError:
            # Its reports are lost; tasks holding the old handle go on unpruned (``reporter``).
            self._bridge = self._new_bridge()
            return []
        return reports

    def wanted(self) -> int:
        """Keep about two tasks per worker slot in flight."""
        return max(0, 2 * self.parallel - len(self.tasks)) * self.chunk

    def submit(self, specs: list[TrialSpec]) -> None:
        """One task per chunk of specs."""
        for i in range(0, len(specs), self.chunk):
            part = specs[i : i + self.chunk]
            ref = self._remote.remote(*self._args, part, self._bridge)
            self.tasks[ref] = (part, time.monotonic())

    def in_flight(self) -> list[int]:
        """Numbers of the trials in submitted tasks."""
        return [s.number for part, _ in self.tasks.values() for s in part]

    def take_requeued(self) -> list[TrialSpec]:
        """Specs of a lost task that were behind the lost trial."""
        out, self.requeue = self.requeue, []
        return out

    def poll(self, timeout: float) -> list[Event]:
        """Finished tasks' results, lost tasks, pending reports; cancel tasks past their timeout."""
        ray = self._ray
        events: list[Event] = []
        for number, step, value in self._take_reports():
            events.append(Report(number, step, value, self._answer(number, step)))
        now = time.monotonic()
        if self.timeout is not None:
            for ref, (part, started) in list(self.tasks.items()):
                # A task waits for a free slot before it starts: only the oldest ``parallel`` count.
                if now - started > self.timeout and self._running(ref):
                    ray.cancel(ref, force=True)
                    del self.tasks[ref]
                    self.requeue.extend(part[1:])
                    detail = f"the trial ran past its timeout of {self.timeout:g} s; its Ray task was cancelled"
                    events.append(Lost(part[0].number, part[0].attempt, "timeout", detail))
        if not self.tasks:
            return events
        wait_for = 0 if events else min(timeout, 0.05)
        ready, _ = ray.wait(list(self.tasks), num_returns=len(self.tasks), timeout=wait_for)
        for ref in ready:
            part, _ = self.tasks.pop(ref)
            try:
                results: list[TrialResult] = ray.get(ref)
            except Exception as exc:  # the worker or its node died
                self.requeue.extend(part[1:])
                events.append(
                    Lost(
                        part[0].number,
                        part[0].attempt,
                        "died",
                        f"its Ray task was lost: {type(exc).__name__}: {exc}"[:2000],
                    )
                )
                continue
            for r in results:
                self.sizer.learn(r.duration)
            events.extend(results)
        return events

    def _running(self, ref: Any) -> bool:
        oldest = sorted(self.tasks.items(), key=lambda kv: kv[1][1])[: self.parallel]
        return any(r == ref for r, _ in oldest)

    def _answer(self, number: int, step: int) -> Callable[[bool], None]:
        def answer(stop: bool) -> None:
            self._bridge.answer.remote(number, step, stop)

        return answer

    def shutdown(self, kill: bool = False) -> None:
        """Cancel what is left (with ``kill``) and drop the bridge; the cluster stays up."""
        ray = self._ray
        if kill:
            for ref in self.tasks:
                ray.cancel(ref, force=True)
        self.tasks.clear()
        ray.kill(self._bridge)
