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

__all__ = ["Event", "Executor", "Lost", "Report"]


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
