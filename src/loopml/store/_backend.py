"""``RunBackend``: the contract for what a run writes and reads, whatever holds it.

The tracking client talks to runs only through this contract. Its journal (``tracking/``)
sits above it: a run's records are appended locally first, and a backend receives them as
journal segments identified by byte offsets, which is what makes every write idempotent:
a segment delivered twice (a retry, a replay after a crash) lands once.

Implementations are siblings, never subclasses of one another:

- :class:`loopml.store.RunStore`, the SQL store (SQLite embedded, PostgreSQL for a team);
- the team server's HTTP client (a later capability) ships the same segments over HTTP.

Every implementation runs the one conformance suite (``tests/store_tests/test_conformance.py``).

Thread-safety: an implementation is shared by the caller's threads and the tracking client's
background writer, so every method must be safe to call from several threads at once. The
backend owns what it stores; callers own the records they pass in (a backend may not keep
references to mutable arguments after returning).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store._query import Node
    from loopml.store._records import ArtifactRecord, Batch, RunRecord

__all__ = ["RunBackend"]


class RunBackend(ABC):
    """What a run writes (creation, journal segments, status, artifacts) and reads back."""

    # -- writes --------------------------------------------------------------------------------
    @abstractmethod
    def create(
        self,
        run_id: str,
        project: str,
        name: str,
        attributes: dict[str, Any],
        params: dict[str, tuple[str, float | None]],
        tags: dict[str, str],
        journal_id: str | None = None,
    ) -> None:
        """Create a ``running`` run with its first params and tags (and register its journal)."""

    @abstractmethod
    def open_journal(self, journal_id: str, run_id: str) -> None:
        """Register a new journal (offset 0) for an existing run."""

    @abstractmethod
    def ingest(
        self,
        journal_id: str,
        run_id: str,
        batch: Batch,
        start: int,
        end: int,
        final: dict[str, Any] | None = None,
        close: bool = False,
    ) -> bool:
        """Store journal bytes ``start:end`` of ``journal_id`` exactly once.

        Returns False when those bytes were stored before; raises ``OffsetMismatch`` (with
        ``.stored``) when the backend holds the journal up to another offset. ``final`` ends
        the run (status, ended_at, error) in the same step; ``close`` forgets the journal.
        A batch with ``create`` set creates its run on the journal's first segment.
        """

    @abstractmethod
    def journal_offset(self, journal_id: str) -> int | None:
        """How far a journal has been stored (None once closed, or its run deleted)."""

    @abstractmethod
    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        only_if: Sequence[str] | None = None,
    ) -> bool:
        """Set a run's status; with ``only_if``, only from one of those statuses."""

    @abstractmethod
    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Mark runs alive now."""

    @abstractmethod
    def mark_stale_crashed(self, older_than: float, exclude: Sequence[str] = ()) -> list[str]:
        """Mark ``running`` runs silent for ``older_than`` seconds ``crashed``; their ids."""

    @abstractmethod
    def copy_artifacts(
        self, run_id: str, source: str | os.PathLike[str], name: str | None
    ) -> list[dict[str, Any]]:
        """Store a file or folder as artifacts of a run; the records to journal."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> int:
        """Delete runs with everything they logged; returns how many existed."""

    # -- reads ---------------------------------------------------------------------------------
    @abstractmethod
    def status(self, run_id: str) -> str | None:
        """A run's status, or None if there is no such run."""

    @abstractmethod
    def resolve_id(self, run_id: str) -> str:
        """Expand a unique id prefix (at least 4 characters) to a full run id."""

    @abstractmethod
    def get(self, run_id: str) -> RunRecord:
        """One run's snapshot, by id or unique id prefix."""

    @abstractmethod
    def get_many(self, ids: Sequence[str]) -> list[RunRecord]:
        """Snapshots of runs in the order given (unknown ids skipped)."""

    @abstractmethod
    def search(
        self,
        project: str | Sequence[str] | None = None,
        where: str | Node | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs matching a filter in the filter language, sorted, one page."""

    @abstractmethod
    def count(
        self, project: str | Sequence[str] | None = None, where: str | Node | None = None
    ) -> int:
        """How many runs match a filter."""

    @abstractmethod
    def check_query(
        self, project: str | Sequence[str] | None = None, where: str | Node | None = None
    ) -> None:
        """Raise NotFoundError for an unknown project, QueryError for a key no run has."""

    @abstractmethod
    def metric_keys(self, run_id: str) -> list[str]:
        """The metric keys a run has logged."""

    @abstractmethod
    def history(self, run_id: str, key: str) -> tuple[list[int], list[float], list[float]]:
        """One metric series of a run: (steps, times, values), by step."""

    @abstractmethod
    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """A run's artifacts, by name."""

    @abstractmethod
    def artifact_file(self, run_id: str, name: str) -> Path:
        """A local path to a stored artifact (a remote backend downloads it first)."""

    def maintain(self) -> None:  # noqa: B027 - optional hook, a no-op unless overridden
        """Periodic upkeep, called by the tracking client's writer between passes."""

    # -- built on the above --------------------------------------------------------------------
    def history_frame(self, run_id: str, keys: list[str] | str | None = None) -> pd.DataFrame:
        """Metric series as one DataFrame: ``step``, ``time`` (of the first key), one column a key."""
        import pandas as pd

        run_id = self.resolve_id(run_id)
        wanted = [keys] if isinstance(keys, str) else (keys or self.metric_keys(run_id))
        steps: list[int] = []
        times: list[float] = []
        names: list[str] = []
        values: list[float] = []
        for key in wanted:
            s, t, v = self.history(run_id, key)
            steps += s
            times += t
            values += v
            names += [key] * len(s)
        long = pd.DataFrame({"step": steps, "time": times, "key": names, "value": values})
        if long.empty:
            frame = pd.DataFrame(
                {"step": pd.Series(dtype="int64"), "time": pd.Series(dtype="float64")}
            )
            for key in wanted:
                frame[key] = pd.Series(dtype="float64")
            return frame
        wide = long.pivot(index="step", columns="key", values="value").reindex(columns=wanted)
        wide.columns.name = None
        wide.insert(0, "time", long.groupby("step")["time"].min())
        return wide.reset_index()
