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

from loopml._errors import LoopmlError, ValidationError
from loopml.tracking._run import Run
from loopml.tracking._validate import (
    check_key,
    check_step,
    encode_param,
    encode_tag,
    flatten,
    to_float,
)

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

    def report(self, run: Run, value: float, step: int) -> None:
        value = to_float(self.metric, value)
        step = check_step(step)
        self.intermediate[step] = value
        run.log({self.metric: value}, step=step)
        if self.reporter is not None and value == value:
            self.stop = self.reporter(self.number, step, value)


class TrialRun(Run):
    """The live run handed to an objective; its records go back with the trial's result."""

    def __init__(self, spec: TrialSpec, channel: TrialChannel) -> None:
        self.id = spec.run_id
        self.project = spec.project
        self.name = spec.name
        self.status = "running"
        self._step = 0
        self._finished = False
        self._keys: set[str] = set()
        self._params: dict[str, str] = {
            k: encode_param(k, v)[0] for k, v in flatten(spec.params).items()
        }
        self.points: list[tuple[int, float, str, float]] = []
        self.logged_params: dict[str, tuple[str, float | None]] = {}
        self.logged_tags: dict[str, str] = {}
        self._sweep_trial = channel

    def __repr__(self) -> str:
        return f"TrialRun(id={self.id!r}, name={self.name!r}, status={self.status!r})"

    @property
    def store(self) -> Any:
        """A trial's records reach the store through its sweep; there is no store handle here."""
        raise LoopmlError(
            "a sweep trial writes through its sweep; read runs with loopml.get_run() after the sweep"
        )

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (default: one past the last step)."""
        self._check_open()
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"log() takes a dict of metric name -> number, not {type(data).__name__}"
            )
        step = self._step if step is None else check_step(step)
        self._step = step + 1
        ts = time.time()
        for k, v in data.items():
            if k not in self._keys:
                self._keys.add(check_key(k))
            self.points.append((step, ts, k, v if type(v) is float else to_float(k, v)))

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record extra params (the sampled ones are recorded already)."""
        self._check_open()
        for k, v in flatten(params).items():
            check_key(k, "param")
            text, num = encode_param(k, v)
            old = self._params.get(k)
            if old is not None and old != text:
                raise ValidationError(
                    f"param {k!r} is already {old!r} in trial run {self.id}; it cannot become {text!r}"
                )
            self._params[k] = text
            self.logged_params[k] = (text, num)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on the trial's run."""
        self._check_open()
        self.logged_tags.update({check_key(k, "tag"): encode_tag(k, v) for k, v in tags.items()})

    def log_artifact(self, path: str, name: str | None = None) -> list[str]:
        """Copy a file or folder into the trial run's artifacts (straight to the store's folder)."""
        raise LoopmlError(
            "log_artifact() is not available inside a function trial yet; save the file and log its path as a tag"
        )

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


def _is_pruned(exc: BaseException) -> bool:
    return isinstance(exc, TrialPruned) or type(exc).__name__ == "TrialPruned"


def execute_trial(
    objective: Callable[[dict[str, Any], Run], Any],
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
    if state == "finished" and value is not None and metric not in run._keys and not logs_itself:
        run.points.append((run._step, time.time(), metric, value))
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
            run.log(extra, step=max(run._step - 1, 0))
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
