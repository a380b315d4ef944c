"""The sweeps capability's records: what ``store.sweeps`` takes and returns.

Plain dataclasses with no SQL, so that a sweep's driver can build and pass them (and a forked
store writer can send them back) without importing SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SweepInfo", "SweepRecord", "SweepSummary", "TrialRow", "TrialWrite"]


@dataclass(frozen=True)
class SweepRecord:
    """A stored sweep: its settings (``config``) and where it stands."""

    id: str
    project: str
    name: str
    status: str
    metric: str
    direction: str
    objective: str
    config: dict[str, Any]
    created_at: float
    ended_at: float | None


@dataclass(frozen=True)
class TrialRow:
    """A stored trial as the sampler needs it back on resume."""

    number: int
    run_id: str
    state: str
    value: float | None
    params: dict[str, Any]
    distributions: dict[str, str]
    intermediate: dict[int, float]
    attempts: int
    cache_key: str | None
    cached_from: str | None
    started_at: float
    ended_at: float | None


@dataclass
class TrialWrite:
    """One trial's state to write (its run and its ``sweep_trials`` row) in the next batch."""

    number: int
    run_id: str
    name: str
    state: str
    params: dict[str, Any]
    encoded_params: dict[str, tuple[str, float | None]]
    distributions: dict[str, str]
    started_at: float
    attempts: int = 1
    value: float | None = None
    error: str | None = None
    ended_at: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    points: list[tuple[int, float, str, float]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # artifacts to store: name -> content
    objective_key: str | None = None
    cache_key: str | None = None
    cached_from: str | None = None


@dataclass(frozen=True)
class SweepSummary:
    """A sweep as seen from its trials (runs sharing a ``sweep_id``)."""

    sweep_id: str
    project: str
    trials: int
    by_status: dict[str, int]
    started_at: float
    last_activity: float | None


@dataclass(frozen=True)
class SweepInfo:
    """What a sweep's own record says (when the sweeps capability stored one)."""

    name: str
    metric: str
    direction: str
    budget: int | None
    status: str

    @classmethod
    def of(cls, rec: SweepRecord) -> SweepInfo:
        """What ``rec`` says, in the pages' vocabulary."""
        budget = rec.config.get("n_trials")
        # The sweeps capability stores ``max`` / ``min``; pages and Optuna speak ``maximize``.
        direction = {"max": "maximize", "min": "minimize"}.get(rec.direction, rec.direction)
        return cls(
            rec.name,
            rec.metric,
            direction,
            budget if isinstance(budget, int) and not isinstance(budget, bool) else None,
            rec.status,
        )
