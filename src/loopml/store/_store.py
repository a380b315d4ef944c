"""``Store``: one metadata store (SQLite or PostgreSQL) and its data folder, and the way in to
each capability's surface (``store.runs``, ``store.sweeps``, ...).

The store itself only owns what every capability shares: the engine, the data folder and the
project namespace. Each capability's reads and writes live in its own surface class.
"""

from __future__ import annotations

import functools
import os
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, func, select

from loopml._config import Settings
from loopml._store_waits import wait_for_handoffs
from loopml.store._dialect import Prepared, bulk_upsert
from loopml.store._engine import checkpoint, make_engine, read, run_write
from loopml.store._migrate import ensure_schema
from loopml.store._records import ProjectInfo
from loopml.store._schema_runs import projects, runs
from loopml.store._sweep_journal import replay_sweep_journals

if TYPE_CHECKING:
    from loopml.store._datasets import DatasetStore
    from loopml.store._evaluations import EvaluationStore
    from loopml.store._labeling import LabelingStore
    from loopml.store._models import ModelStore
    from loopml.store._monitors import MonitorStore
    from loopml.store._predictions import PredictionStore
    from loopml.store._runs import RunStore
    from loopml.store._sweeps import SweepStore
    from loopml.store._users import UserStore

__all__ = ["Store"]

_LIVE_STORES: weakref.WeakSet[Store] = weakref.WeakSet()


def _after_fork() -> None:
    # A forked child must not use the parent's pooled connections (nor close them).
    for store in list(_LIVE_STORES):
        store.engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork)


# On the path of a training script's first ingest (its project's id): run from its SQL text on
# SQLite, so that the process compiles nothing there (see ``Prepared``).
_PROJECT_ID_Q = Prepared(
    select(projects.c.id).where(projects.c.name == bindparam("name")),
    "SELECT projects.id \nFROM projects \nWHERE projects.name = ?",
    ("name",),
)


class Store:
    """One metadata store (SQL) plus its data folder (journals, artifacts).

    Thread-safe: the caller's threads and the background writer share one instance. Every write
    is one transaction; on SQLite it takes the write lock up front and is retried while locked.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        # A sweep of this process may still be storing trials it returned with: read them too.
        wait_for_handoffs()
        self.settings = settings or Settings.from_env()
        self.data_dir = Path(self.settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.url = self.settings.resolved_store_url
        self.engine = make_engine(self.url)
        ensure_schema(self.engine)
        self._project_ids: dict[str, int] = {}
        _LIVE_STORES.add(self)
        # Trials a dead sweep store process kept but had not stored (see ``_sweep_journal``).
        replay_sweep_journals(self)

    # -- folders -------------------------------------------------------------------------------
    @property
    def journals_dir(self) -> Path:
        """Where run journals live until they are ingested."""
        return self.data_dir / "journals"

    @property
    def artifacts_dir(self) -> Path:
        """Where artifact files live, one folder per run."""
        return self.data_dir / "artifacts"

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the database file (a no-op on PostgreSQL)."""
        checkpoint(self.engine)

    # -- projects ------------------------------------------------------------------------------
    def project_id(self, conn: Connection, name: str, create: bool = True) -> int | None:
        """The id of project ``name`` (created when missing and ``create``, within a write)."""
        cached = self._project_ids.get(name)
        if cached is not None:
            return cached
        pid = _PROJECT_ID_Q.run(conn, {"name": name}).scalar()
        if pid is None and create:
            bulk_upsert(
                conn, projects, ["name"], None, ("name", "created_at"), [(name, time.time())]
            )
            pid = _PROJECT_ID_Q.run(conn, {"name": name}).scalar()
        return None if pid is None else int(pid)

    def cached_project_id(self, name: str) -> int | None:
        """The id of project ``name`` if this store has seen it committed, else None."""
        return self._project_ids.get(name)

    def remember_project_id(self, name: str, pid: int) -> None:
        """Cache the id of project ``name``, made or read by a write that has committed."""
        self._project_ids[name] = pid

    def ensure_project(self, name: str) -> int:
        """The id of project ``name``, creating it in a transaction of its own when missing.

        Ids are cached only once committed, so a rolled-back write never leaves a stale id.
        """
        cached = self._project_ids.get(name)
        if cached is None:
            cached = run_write(self.engine, lambda conn: self.project_id(conn, name, create=True))
            assert cached is not None
            self._project_ids[name] = cached
        return cached

    def list_projects(self) -> list[ProjectInfo]:
        """Every project with its run counts and last activity."""
        last = func.max(func.coalesce(runs.c.heartbeat_at, runs.c.ended_at, runs.c.created_at))
        query = (
            select(
                projects.c.name,
                projects.c.created_at,
                func.count(runs.c.id).label("n"),
                func.count(runs.c.id).filter(runs.c.status == "running").label("running"),
                last.label("last"),
            )
            .select_from(projects.outerjoin(runs, runs.c.project_id == projects.c.id))
            .group_by(projects.c.id, projects.c.name, projects.c.created_at)
            .order_by(projects.c.name)
        )
        with read(self.engine) as conn:
            return [
                ProjectInfo(r.name, r.created_at, int(r.n), int(r.running), r.last)
                for r in conn.execute(query)
            ]

    # -- capability surfaces -------------------------------------------------------------------
    @functools.cached_property
    def runs(self) -> RunStore:
        """Runs: the local implementation of the tracking client's :class:`RunBackend`."""
        from loopml.store._runs import RunStore

        return RunStore(self)

    @functools.cached_property
    def sweeps(self) -> SweepStore:
        """Sweeps and their trials."""
        from loopml.store._sweeps import SweepStore

        return SweepStore(self)

    @functools.cached_property
    def evaluations(self) -> EvaluationStore:
        """Evaluations: per-example rows, metrics, error tags, labeling requests."""
        from loopml.store._evaluations import EvaluationStore

        return EvaluationStore(self)

    @functools.cached_property
    def datasets(self) -> DatasetStore:
        """Dataset versions and their lineage (see ``DatasetStore``)."""
        from loopml.store._datasets import DatasetStore

        return DatasetStore(self.engine, self.data_dir)

    @functools.cached_property
    def labeling(self) -> LabelingStore:
        """Labeling projects, guidelines, queues, annotations and reviews (see ``LabelingStore``)."""
        from loopml.store._labeling import LabelingStore

        return LabelingStore(self.engine)

    @functools.cached_property
    def models(self) -> ModelStore:
        """The model registry: versions, aliases and the alias audit log."""
        from loopml.store._models import ModelStore

        return ModelStore(self)

    @functools.cached_property
    def predictions(self) -> PredictionStore:
        """The prediction log: hourly Parquet parts and feedback, per model."""
        from loopml.store._predictions import PredictionStore

        return PredictionStore(self)

    @functools.cached_property
    def monitors(self) -> MonitorStore:
        """Monitoring: catalogs, metric values, alerts and the prediction log reader."""
        from loopml.store._monitors import MonitorStore

        return MonitorStore(self)

    @functools.cached_property
    def users(self) -> UserStore:
        """The team server's users, roles, API tokens, sessions and audit log."""
        from loopml.store._users import UserStore

        return UserStore(self)
