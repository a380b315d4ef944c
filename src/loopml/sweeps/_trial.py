"""Running one trial inside a worker: the live ``Run`` it logs to, and what it sends back.

``TrialRun`` is a :class:`loopml.Run` whose records stay in memory and travel back to the sweep
with the trial's result, to be written in a batch with other trials: a short trial costs no
journal file and no transaction of its own. (A killed worker loses only the trial it was
running, which the sweep fails and retries.)
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml._errors import LoopmlError
from loopml._values import check_key, check_step, encode_param, flatten, to_float
from loopml.store import check_artifact_name
from loopml.tracking import BaseRun, Media

__all__ = ["TrialPruned", "TrialResult", "TrialRun", "TrialSpec", "execute_trial"]


class TrialPruned(LoopmlError):
    """Raise from an objective to end its trial as ``pruned`` (Optuna's ``TrialPruned`` works too)."""


@dataclass(frozen=True)
class TrialSpec:
    """What a worker needs to run a trial."""

    number: int
    run_id: str
    name: str
    project: str
    params: dict[str, Any]
    attempt: int = 1


@dataclass
class TrialResult:
    """What a worker sends back: the outcome and everything the trial logged."""

    number: int
    state: str  # finished, failed, pruned
    value: float | None
    error: str | None
    points: list[tuple[int, float, str, float]] = field(default_factory=list)
    params: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)
    duration: float = 0.0
    attempt: int = 1
    # Media logged with run.log (loopml.Image, ...): artifact name -> file content, stored by
    # the sweep with the trial's run (media/<key>/step-<step>..., as Run.log stores them).
    files: dict[str, bytes] = field(default_factory=dict)


# report(number, step, value) -> should the trial stop?
Reporter = Callable[[int, int, float], bool]


class TrialChannel:
    """Carries ``run.report`` to the sweep's pruner and its answer back to ``run.should_stop``."""

    def __init__(self, number: int, metric: str, reporter: Reporter | None) -> None:
        self.number = number
        self.metric = metric
        self.reporter = reporter
        self.intermediate: dict[int, float] = {}
        self.stop = False

    def report(self, run: BaseRun, value: float, step: int) -> None:
        value = to_float(self.metric, value)
        step = check_step(step)
        self.intermediate[step] = value
        run.log({self.metric: value}, step=step)
        if self.reporter is not None and value == value:
            self.stop = self.reporter(self.number, step, value)


class TrialRun(BaseRun):
    """The live run handed to a function objective: a sibling of :class:`loopml.Run` whose
    records stay in memory and go back with the trial's result (no journal, no store handle)."""

    def __init__(self, spec: TrialSpec, channel: TrialChannel) -> None:
        super().__init__(
            spec.run_id,
            spec.project,
            spec.name,
            {k: encode_param(k, v)[0] for k, v in flatten(spec.params).items()},
            0,
        )
        self.points: list[tuple[int, float, str, float]] = []
        self.logged_params: dict[str, tuple[str, float | None]] = {}
        self.logged_tags: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self._channel = channel

    @property
    def store(self) -> Any:
        """A trial's records reach the store through its sweep; there is no store handle here."""
        raise LoopmlError(
            "a sweep trial writes through its sweep; read runs with loopml.get_run() after the sweep"
        )

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (default: one past the last step); media values
        (``loopml.Image``, ``Histogram``, ``Table``) travel back as files with the result."""
        self._check_open()
        if not isinstance(data, Mapping):
            data = self._as_dict(data)
        step = self._step if step is None else check_step(step)
        self._step = step + 1
        ts = time.time()
        points = []
        files: dict[str, bytes] = {}
        for k, v in data.items():
            if k not in self._keys:
                self._keys.add(check_key(k))
            if type(v) is float:
                points.append((step, ts, k, v))
            elif isinstance(v, Media):
                for name, content in v.files(step).items():
                    # checked here, not when the sweep writes: a bad name fails this call only
                    files[check_artifact_name(f"media/{k}/{name}")] = content
            else:
                points.append((step, ts, k, to_float(k, v)))
        self.points += points  # all values checked first: a bad one logs none of the call
        if files:
            self.files.update(files)

    def _write_params(self, encoded: dict[str, tuple[str, float | None]]) -> None:
        self.logged_params.update(encoded)

    def _write_tags(self, encoded: dict[str, str]) -> None:
        self.logged_tags.update(encoded)

    def log_artifact(self, path: str, name: str | None = None) -> list[str]:
        """Not available in a function trial yet (its records travel by pipe, not file)."""
        raise LoopmlError(
            "log_artifact() is not available inside a function trial yet; save the file and log its path as a tag"
        )

    def report(self, value: float, step: int) -> None:
        """Report an intermediate objective value to the sweep's pruner (and log it)."""
        self._channel.report(self, value, step)

    def should_stop(self) -> bool:
        """True when the sweep's pruner decided, on the last report, that this trial should stop."""
        return self._channel.stop

    def flush(self) -> None:
        """Nothing to do: a trial's records are written with its result."""

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """Trials end when their objective returns; the sweep sets the final status."""
        self._finished = True
        self.status = status

    def last(self, key: str) -> float | None:
        """The value logged last (highest step) for ``key``, if any."""
        best: tuple[int, float] | None = None
        for step, _, k, v in self.points:
            if k == key and (best is None or step >= best[0]):
                best = (step, v)
        return None if best is None else best[1]

    def logged(self, key: str) -> bool:
        """Whether ``key`` has been logged in this trial."""
        return key in self._keys


def _is_pruned(exc: BaseException) -> bool:
    return isinstance(exc, TrialPruned) or type(exc).__name__ == "TrialPruned"


def execute_trial(
    objective: Callable[[dict[str, Any], BaseRun], Any],
    spec: TrialSpec,
    metric: str,
    reporter: Reporter | None = None,
) -> TrialResult:
    """Run ``objective`` on one trial and turn whatever happens into a :class:`TrialResult`."""
    channel = TrialChannel(spec.number, metric, reporter)
    run = TrialRun(spec, channel)
    start = time.perf_counter()
    state, value, error = "finished", None, None
    try:
        returned = objective(dict(spec.params), run)
        value, error = _value_of(returned, run, metric)
        if error is not None:
            state = "failed"
        elif channel.stop:
            state = "pruned"
    except Exception as exc:
        if _is_pruned(exc):
            state = "pruned"
            value = run.last(metric)
        else:
            state, error = "failed", "".join(traceback.format_exception(exc))
    # A command's process logs to the run itself; a function's returned value is logged here.
    logs_itself = getattr(objective, "logs_to_run", False)
    if state == "finished" and value is not None and not run.logged(metric) and not logs_itself:
        run.points.append((run.step, time.time(), metric, value))
    return TrialResult(
        spec.number,
        state,
        value,
        error,
        run.points,
        run.logged_params,
        run.logged_tags,
        channel.intermediate,
        time.perf_counter() - start,
        spec.attempt,
        run.files,
    )


def _value_of(returned: Any, run: TrialRun, metric: str) -> tuple[float | None, str | None]:
    if returned is None:
        value = run.last(metric)
        if value is None:
            return None, (
                f"the objective returned nothing and never logged {metric!r}; return a number, "
                f"return a dict holding {metric!r}, or log it with run.log({{{metric!r}: value}})"
            )
    elif isinstance(returned, Mapping):
        extra = {
            k: v
            for k, v in returned.items()
            if k != metric and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if extra:
            run.log(extra, step=max(run.step - 1, 0))
        if metric not in returned:
            return None, (
                f"the objective returned keys {sorted(map(str, returned))} without the sweep's metric "
                f"{metric!r}; return a dict holding {metric!r} or set metric= to one of those keys"
            )
        returned = returned[metric]
        value = _as_float(returned)
    else:
        value = _as_float(returned)
    if value is None:
        return None, f"the objective returned {returned!r} for {metric!r}; it must be a number"
    if math.isnan(value):
        return (
            None,
            f"the objective returned NaN for {metric!r}; the trial is failed (a NaN cannot be ranked)",
        )
    return value, None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
