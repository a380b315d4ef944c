"""Frozen snapshots read from the store, and the batches written to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml._errors import StoreError

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store._store import Store

__all__ = [
    "RUN_STATUSES",
    "ArtifactRecord",
    "Batch",
    "MetricSummary",
    "PackedPoints",
    "Point",
    "ProjectInfo",
    "RunRecord",
]

# A run is ``running`` until it ends as one of the others; ``crashed`` means its process died.
RUN_STATUSES = ("running", "finished", "failed", "crashed", "killed", "pruned")

# (step, time, key, value)
Point = tuple[int, float, str, float]


@dataclass(frozen=True)
class PackedPoints:
    """Metric points as columns, as the team server receives them (``store._wire``): metric
    names, and numpy arrays of each point's index into them, step, time and value."""

    keys: list[str]
    key: Any  # uint32 index into ``keys``
    step: Any  # int64
    ts: Any  # float64
    value: Any  # float64

    def __len__(self) -> int:
        return len(self.step)

    def to_points(self) -> list[Point]:
        """The points as (step, time, key, value) tuples, in logging order."""
        names = [self.keys[i] for i in self.key.tolist()]
        return list(
            zip(self.step.tolist(), self.ts.tolist(), names, self.value.tolist(), strict=True)
        )


@dataclass
class Batch:
    """Everything a journal segment adds to one run, ready for one ingest transaction."""

    points: list[Point] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    # A run created lazily: its row is written with the journal's first segment. Keys:
    # project, name, created_at, attributes, params {key: (text, num)}, tags.
    create: dict[str, Any] | None = None
    # More points, as columns: what the team server decodes (kept packed so that PostgreSQL's
    # COPY path never builds a tuple per point). Stored after ``points``.
    packed: PackedPoints | None = None

    def __bool__(self) -> bool:
        return bool(
            self.points or self.packed or self.params or self.tags or self.artifacts or self.create
        )

    def all_points(self) -> list[Point]:
        """``points`` and then the ``packed`` ones, as tuples."""
        return self.points + self.packed.to_points() if self.packed else self.points


@dataclass(frozen=True)
class MetricSummary:
    """Per-key summary kept up to date on ingest: last value (at the highest step), min, max, count."""

    last: float
    last_step: int
    min: float
    max: float
    count: int


@dataclass(frozen=True)
class ArtifactRecord:
    """A file stored with a run."""

    name: str
    size: int
    sha256: str
    created_at: float


@dataclass(frozen=True)
class ProjectInfo:
    """A project with its run counts and last activity."""

    name: str
    created_at: float
    run_count: int
    running: int
    last_activity: float | None


@dataclass(frozen=True)
class RunRecord:
    """An immutable snapshot of a run as stored; ``history()`` reads its metric series."""

    id: str
    project: str
    name: str
    status: str
    created_at: float
    ended_at: float | None
    heartbeat_at: float | None
    git_commit: str | None
    git_dirty: bool | None
    command: str | None
    host: str | None
    pid: int | None
    environment: dict[str, Any]
    error: str | None
    sweep_id: str | None
    params: dict[str, Any]
    tags: dict[str, str]
    metrics: dict[str, MetricSummary]
    _store: Store | None = field(default=None, repr=False, compare=False)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or to the last heartbeat while running)."""
        end = self.ended_at if self.ended_at is not None else self.heartbeat_at
        return None if end is None else max(0.0, end - self.created_at)

    def history(self, keys: list[str] | str | None = None) -> pd.DataFrame:
        """The metric series as a DataFrame: one row per step, columns ``step``, ``time`` and keys."""
        if self._store is None:
            raise StoreError(
                "this RunRecord was built without a store; read it with loopml.get_run()"
            )
        return self._store.runs.history_frame(self.id, keys)

    def to_flat_dict(self) -> dict[str, Any]:
        """One flat row: attributes, ``params.*``, ``metrics.*`` (last values) and ``tags.*``."""
        row: dict[str, Any] = {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at,
            "ended_at": self.ended_at,
            "duration": self.duration,
            "git_commit": self.git_commit,
            "host": self.host,
            "sweep_id": self.sweep_id,
        }
        for k, v in self.params.items():
            row[f"params.{k}"] = v
        for k, s in self.metrics.items():
            row[f"metrics.{k}"] = s.last
        for k, v in self.tags.items():
            row[f"tags.{k}"] = v
        return row
