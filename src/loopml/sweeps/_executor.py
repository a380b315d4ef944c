"""The executor contract: where trials run. The controller asks and tells; executors only drive.

An executor is used by one controller thread (it is not thread-safe). It owns its workers: it
starts them in ``start``, feeds them the specs it is given, and turns what happens to them into
events. It never decides a trial's fate: a dead worker or a timeout is reported as ``Lost`` and
the controller chooses between retrying and failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from loopml.sweeps._trial import TrialResult, TrialSpec

__all__ = ["ChunkSizer", "Event", "Executor", "Lost", "Report", "thread_env"]

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that cap the BLAS and OpenMP pools of a trial at ``threads``."""
    return dict.fromkeys(_THREAD_VARS, str(threads))


@dataclass
class Report:
    """A trial reported an intermediate value; ``answer(should_stop)`` must be called once."""

    number: int
    step: int
    value: float
    answer: Callable[[bool], None]


@dataclass
class Lost:
    """A trial ended without a result: its worker died (``died``) or ran past its timeout (``timeout``)."""

    number: int
    attempt: int
    reason: str
    detail: str


Event = TrialResult | Report | Lost


class ChunkSizer:
    """Sizes chunks of trials from their measured durations, so that a chunk holds ``seconds`` of work.

    The mean is over about the last 50 trials. Until three trials have been measured, and always
    when trials have a timeout (a chunk would make it inexact), the chunk is one trial.
    """

    def __init__(self, seconds: float, timed: bool, most: int = 256) -> None:
        self.seconds, self.timed, self.most = seconds, timed, most
        self.mean = 0.0  # running mean trial duration, seconds
        self.n = 0
        self.chunk = 1

    @property
    def known(self) -> bool:
        """Whether enough trials were measured for ``mean`` to mean something."""
        return self.n >= 3

    def learn(self, duration: float) -> None:
        """Take one trial's duration into the mean and resize the chunk."""
        self.n += 1
        self.mean += (duration - self.mean) / min(self.n, 50)
        if not self.timed and self.known:
            self.chunk = int(min(self.most, max(1, self.seconds / max(self.mean, 1e-6))))


class Executor(Protocol):
    """Runs trial specs somewhere and reports what happened to them."""

    def start(
        self, objective: Callable[..., Any], metric: str, setup: Callable[[], Any] | None
    ) -> None:
        """Start the workers (warm: they run ``setup`` once and are reused across trials)."""

    def wanted(self) -> int:
        """How many more specs the executor would like now (0 when its workers are busy enough)."""

    def submit(self, specs: list[TrialSpec]) -> None:
        """Queue specs to run (at most ``wanted()`` of them)."""

    def poll(self, timeout: float) -> list[Event]:
        """Wait up to ``timeout`` seconds for events; enforce per-trial timeouts."""

    def in_flight(self) -> list[int]:
        """Numbers of the trials submitted and not yet ended."""

    def take_requeued(self) -> list[TrialSpec]:
        """Specs handed back unstarted (queued behind a lost trial); the controller resubmits them."""

    def shutdown(self, kill: bool = False) -> None:
        """Stop the workers (at once, with ``kill``)."""
