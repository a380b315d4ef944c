"""``RunStore``: runs in the SQL store (SQLite or PostgreSQL), the local ``RunBackend``.

Writes are one transaction each (``run_write``): a journal segment lands exactly once because
its journal's offset advances in the same transaction (``_ingest.py``). Reads load records in
bulk, a fixed number of queries whatever the number of runs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, delete, insert, select, update

from loopml._errors import NotFoundError, QueryError, ValidationError, did_you_mean
from loopml._values import decode_param
from loopml.store import _search
from loopml.store._artifacts import artifact_path, save_artifacts
from loopml.store._backend import RunBackend
from loopml.store._dialect import Prepared, bulk_upsert, chunks
from loopml.store._engine import is_sqlite, read, run_write
from loopml.store._ingest import decode_value, ingest_batch, insert_run
from loopml.store._query import Node, SortKey, fields_of, parse_filter, parse_order_by
from loopml.store._records import ArtifactRecord, Batch, MetricSummary, RunRecord
from loopml.store._schema_runs import (
    artifacts,
    journals,
    metric_buckets,
    metric_keys,
    metric_summary,
    metrics,
    params,
    projects,
    runs,
    tags,
)
from loopml.store._series import MAX_SERIES_POINTS, Series, metric_series

if TYPE_CHECKING:
    from loopml.store._store import Store

__all__ = ["ColumnChoices", "RunStore", "RunsPage"]


@dataclass(frozen=True)
class RunsPage:
    """One page of a runs query: the records, and how many runs match in all."""

    runs: list[RunRecord]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class ColumnChoices:
    """The param, metric and tag keys a runs table can show as columns."""

    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


# A run's project by its full id: what the team server checks permissions against.
_PROJECT_OF = (
    select(projects.c.name)
    .select_from(runs.join(projects, projects.c.id == runs.c.project_id))
    .where(runs.c.id == bindparam("rid"))
)


def _check_run_id(run_id: object) -> None:
    if not isinstance(run_id, str) or not run_id:
        raise ValidationError(f"a run id must be a non-empty string, not {run_id!r}")


def _resolve(conn: Connection, run_id: str, exact_checked: bool = False) -> str:
    """``resolve_id`` on an open connection (``exact_checked``: the full id is known absent)."""
    _check_run_id(run_id)
    if not exact_checked and conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first():
        return run_id
    if len(run_id) < 4:
        raise NotFoundError(f"no run with id {run_id!r}; give the full id or at least 4 characters")
    escaped = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    found = [
        r[0]
        for r in conn.execute(
            select(runs.c.id).where(runs.c.id.like(escaped + "%", escape="\\")).limit(2)
        )
    ]
    if not found:
        raise NotFoundError(f"no run with id {run_id!r}; list runs with `loopml runs list`")
    if len(found) > 1:
        raise ValidationError(f"run id prefix {run_id!r} is ambiguous; give more characters")
    return str(found[0])


def _intern(conn: Connection, names: list[str]) -> dict[str, int]:
    """Ids for metric key ``names``, inserting the missing ones, within ``conn``'s write."""
    for part in chunks(names):
        bulk_upsert(conn, metric_keys, ["name"], None, ("name",), [(n,) for n in part])
    found: dict[str, int] = {}
    for part in chunks(names):
        for r in _KEY_IDS.run(conn, {"names": part}):
            found[r.name] = r.id
    return found


_KEY_IDS = Prepared(
    select(metric_keys.c.id, metric_keys.c.name).where(
        metric_keys.c.name.in_(bindparam("names", expanding=True))
    ),
    "SELECT metric_keys.id, metric_keys.name \nFROM metric_keys \nWHERE metric_keys.name "
    "IN (__[POSTCOMPILE_names])",
    ("names",),
)


class RunStore(RunBackend):
    """Runs on a :class:`Store`: the local implementation of :class:`RunBackend`.

    Thread-safe: the caller's threads and the tracking client's background writer share it.
    Every write is one transaction; on SQLite it takes the write lock up front and is retried
    while locked.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._engine = store.engine
        self._key_ids: dict[str, int] = {}

    # -- runs ----------------------------------------------------------------------------------
    def create(
        self,
        run_id: str,
        project: str,
        name: str,
        attributes: dict[str, Any],
        params_: dict[str, tuple[str, float | None]],
        tags_: dict[str, str],
        journal_id: str | None = None,
    ) -> None:
        """Insert a new ``running`` run with its first params and tags (and journal), at once."""
        pid = self._store.ensure_project(project)
        spec = {"name": name, "attributes": attributes, "params": params_, "tags": tags_}

        def write(conn: Connection) -> None:
            now = time.time()
            insert_run(conn, run_id, pid, spec, now)
            if journal_id is not None:
                conn.execute(
                    journals.insert(),
                    {"id": journal_id, "run_id": run_id, "offset": 0, "created_at": now},
                )

        run_write(self._engine, write)

    def intern_keys(self, names: Iterable[str]) -> dict[str, int]:
        """Ids for metric key names, creating the missing ones (ids never change)."""
        missing = sorted({n for n in names if n not in self._key_ids})
        if missing:
            self._key_ids.update(run_write(self._engine, lambda conn: _intern(conn, missing)))
        return self._key_ids

    def open_journal(self, journal_id: str, run_id: str) -> None:
        """Register a new journal for an existing run (offset 0)."""
        stmt = insert(journals).values(
            id=journal_id, run_id=run_id, offset=0, created_at=time.time()
        )
        run_write(self._engine, lambda conn: conn.execute(stmt))

    def ingest(
        self,
        journal_id: str,
        run_id: str,
        batch: Batch,
        start: int,
        end: int,
        final: dict[str, Any] | None = None,
        close: bool = False,
        *,
        also: Callable[[Connection], None] | None = None,
    ) -> bool:
        """Write journal bytes ``start:end`` once; raises OffsetMismatch when out of step.

        ``also`` (the team server's audit row) runs in the same transaction, after the batch:
        it commits when the ingest does, also when the bytes were stored before (False).
        """
        names = [p[2] for p in batch.points] + (batch.packed.keys if batch.packed else [])
        project = batch.create["project"] if batch.create else None
        if not is_sqlite(self._engine):
            # PostgreSQL: new keys and projects commit on their own, so that many writers
            # ingesting at once do not hold each other's key rows until their batches commit.
            key_ids = self.intern_keys(names) if names else self._key_ids
            pid = self._store.ensure_project(project) if project is not None else None

            def write_pg(conn: Connection) -> bool:
                stored = ingest_batch(
                    conn,
                    journal_id,
                    run_id,
                    batch,
                    key_ids,
                    start,
                    end,
                    time.time(),
                    final,
                    close,
                    pid,
                )
                if also is not None:
                    also(conn)
                return stored

            return run_write(self._engine, write_pg)
        # SQLite lets one writer in at a time anyway: the new keys and the project are made in
        # the batch's own transaction (a process's first ingest: one commit, not three), and
        # cached once it commits.
        missing = sorted({n for n in names if n not in self._key_ids})
        cached_pid = self._store.cached_project_id(project) if project is not None else None

        def write(conn: Connection) -> tuple[bool, dict[str, int], int | None]:
            new_ids = _intern(conn, missing) if missing else {}
            key_ids = {**self._key_ids, **new_ids} if new_ids else self._key_ids
            pid = cached_pid
            if project is not None and pid is None:
                pid = self._store.project_id(conn, project, create=True)
            done = ingest_batch(
                conn, journal_id, run_id, batch, key_ids, start, end, time.time(), final, close, pid
            )
            if also is not None:
                also(conn)
            return done, new_ids, pid

        done, new_ids, pid = run_write(self._engine, write)
        self._key_ids.update(new_ids)
        if project is not None and cached_pid is None and pid is not None:
            self._store.remember_project_id(project, pid)
        return done

    def journal_offset(self, journal_id: str) -> int | None:
        """How far a journal has been ingested (None once it is closed or its run deleted)."""
        with read(self._engine) as conn:
            value = conn.execute(
                select(journals.c.offset).where(journals.c.id == journal_id)
            ).scalar()
        return None if value is None else int(value)

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        only_if: Sequence[str] | None = None,
    ) -> bool:
        """Set a run's status (and end time); with ``only_if``, only from one of those statuses."""
        values: dict[str, Any] = {"status": status}
        if status != "running":
            values["ended_at"] = time.time()
        if error is not None:
            values["error"] = error
        stmt = update(runs).where(runs.c.id == run_id).values(**values)
        if only_if is not None:
            stmt = stmt.where(runs.c.status.in_(list(only_if)))
        return bool(run_write(self._engine, lambda conn: conn.execute(stmt).rowcount))

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Mark runs alive now."""
        if run_ids:
            stmt = update(runs).where(runs.c.id.in_(list(run_ids))).values(heartbeat_at=time.time())
            run_write(self._engine, lambda conn: conn.execute(stmt))

    def mark_stale_crashed(self, older_than: float, exclude: Sequence[str] = ()) -> list[str]:
        """Mark ``running`` runs with no heartbeat for ``older_than`` seconds as ``crashed``."""
        cutoff = time.time() - older_than

        def write(conn: Connection) -> list[str]:
            cond = (runs.c.status == "running") & (runs.c.heartbeat_at < cutoff)
            if exclude:
                cond = cond & runs.c.id.not_in(list(exclude))
            ids = [r[0] for r in conn.execute(select(runs.c.id).where(cond))]
            for part in chunks(ids):
                conn.execute(
                    update(runs)
                    .where(runs.c.id.in_(part), runs.c.status == "running")
                    .values(status="crashed", ended_at=runs.c.heartbeat_at)
                )
            return ids

        return run_write(self._engine, write)

    def status(self, run_id: str) -> str | None:
        """A run's status, or None if there is no such run."""
        with read(self._engine) as conn:
            return conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()

    def resolve_id(self, run_id: str) -> str:
        """Expand a unique prefix (at least 4 characters) to a full run id."""
        with read(self._engine) as conn:
            return _resolve(conn, run_id)

    def project_of(self, run_id: str) -> str:
        """The project of a run, by id (one query) or unique id prefix; NotFoundError if none."""
        _check_run_id(run_id)
        with read(self._engine) as conn:
            name = conn.execute(_PROJECT_OF, {"rid": run_id}).scalar()
            if name is None:  # a prefix, or no such run (one connection for the whole lookup)
                full = _resolve(conn, run_id, exact_checked=True)
                name = conn.execute(_PROJECT_OF, {"rid": full}).scalar()
        if name is None:
            raise NotFoundError(f"no run with id {run_id!r}; list runs with `loopml runs list`")
        return str(name)

    def get(self, run_id: str) -> RunRecord:
        """One run's snapshot, by id or unique id prefix."""
        return self.get_many([self.resolve_id(run_id)])[0]

    def get_many(self, ids: Sequence[str]) -> list[RunRecord]:
        """Snapshots of runs in the order given (unknown ids are skipped); a fixed number of queries."""
        if not ids:
            return []
        rows: dict[str, Any] = {}
        p: dict[str, dict[str, Any]] = {i: {} for i in ids}
        t: dict[str, dict[str, str]] = {i: {} for i in ids}
        m: dict[str, dict[str, MetricSummary]] = {i: {} for i in ids}
        with read(self._engine) as conn:
            for part in chunks(list(ids)):
                q = (
                    select(runs, projects.c.name.label("project"))
                    .select_from(runs.join(projects, projects.c.id == runs.c.project_id))
                    .where(runs.c.id.in_(part))
                )
                for r in conn.execute(q):
                    rows[r.id] = r
                for r in conn.execute(select(params).where(params.c.run_id.in_(part))):
                    p[r.run_id][r.key] = decode_param(r.value, r.num)
                for r in conn.execute(select(tags).where(tags.c.run_id.in_(part))):
                    t[r.run_id][r.key] = r.value
                q2 = (
                    select(metric_summary, metric_keys.c.name)
                    .join(metric_keys, metric_keys.c.id == metric_summary.c.key_id)
                    .where(metric_summary.c.run_id.in_(part))
                )
                for r in conn.execute(q2):
                    m[r.run_id][r.name] = MetricSummary(
                        decode_value(r.last, r.last_flag),
                        int(r.last_step),
                        r.min if r.min is not None else float("nan"),
                        r.max if r.max is not None else float("nan"),
                        int(r._mapping["count"]),  # Row.count is tuple.count
                    )
        out = []
        for i in ids:
            row = rows.get(i)
            if row is None:
                continue
            out.append(
                RunRecord(
                    id=row.id,
                    project=row.project,
                    name=row.name,
                    status=row.status,
                    created_at=row.created_at,
                    ended_at=row.ended_at,
                    heartbeat_at=row.heartbeat_at,
                    git_commit=row.git_commit,
                    git_dirty=row.git_dirty,
                    command=row.command,
                    host=row.host,
                    pid=row.pid,
                    environment=json.loads(row.environment) if row.environment else {},
                    error=row.error,
                    sweep_id=row.sweep_id,
                    params=dict(sorted(p[i].items())),
                    tags=dict(sorted(t[i].items())),
                    metrics=dict(sorted(m[i].items())),
                    _store=self._store,
                )
            )
        return out

    def _project_filter(
        self, conn: Connection, project: str | Sequence[str] | None
    ) -> list[int] | None:
        if project is None:
            return None
        names = [project] if isinstance(project, str) else list(project)
        ids = [self._store.project_id(conn, n, create=False) for n in names]
        return [i for i in ids if i is not None]

    def search(
        self,
        project: str | Sequence[str] | None = None,
        where: str | Node | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs matching a filter (see ``store/_query.py``), sorted, one page."""
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValidationError(f"limit must be a non-negative integer or None, not {limit!r}")
        if not isinstance(offset, int) or offset < 0:
            raise ValidationError(f"offset must be a non-negative integer, not {offset!r}")
        node = parse_filter(where) if isinstance(where, str) or where is None else where
        sort: list[SortKey] = parse_order_by(
            order_by if isinstance(order_by, str) or order_by is None else list(order_by)
        )
        with read(self._engine) as conn:
            ids = _search.search_ids(
                conn, self._project_filter(conn, project), node, sort, limit, offset
            )
        return self.get_many(ids)

    def count(
        self, project: str | Sequence[str] | None = None, where: str | Node | None = None
    ) -> int:
        """How many runs match a filter."""
        node = parse_filter(where) if isinstance(where, str) or where is None else where
        with read(self._engine) as conn:
            return _search.count(conn, self._project_filter(conn, project), node)

    def metric_keys(self, run_id: str) -> list[str]:
        """The metric keys a run has logged."""
        q = (
            select(metric_keys.c.name)
            .join(metric_summary, metric_summary.c.key_id == metric_keys.c.id)
            .where(metric_summary.c.run_id == run_id)
            .order_by(metric_keys.c.name)
        )
        with read(self._engine) as conn:
            return [r[0] for r in conn.execute(q)]

    def history(self, run_id: str, key: str) -> tuple[list[int], list[float], list[float]]:
        """One metric series of a run: (steps, times, values), ordered by step."""
        q = (
            select(metrics.c.step, metrics.c.ts, metrics.c.value, metrics.c.flag)
            .join(metric_keys, metric_keys.c.id == metrics.c.key_id)
            .where(metrics.c.run_id == run_id, metric_keys.c.name == key)
            .order_by(metrics.c.step)
        )
        steps: list[int] = []
        times: list[float] = []
        values: list[float] = []
        with read(self._engine) as conn:
            for step, ts, value, flag in conn.execute(q):
                steps.append(step)
                times.append(ts)
                values.append(decode_value(value, flag))
        return steps, times, values

    def delete(self, ids: Sequence[str]) -> int:
        """Delete runs with their points, params, tags and artifact files; returns how many."""
        ids = list(ids)

        def write(conn: Connection) -> int:
            n = 0
            for part in chunks(ids):
                for table in (metric_summary, metric_buckets, params, tags, artifacts, journals):
                    conn.execute(delete(table).where(table.c.run_id.in_(part)))
                n += conn.execute(delete(runs).where(runs.c.id.in_(part))).rowcount
                # After the runs (``metrics`` has no foreign key to cascade): deleting a run
                # waits for an ingest holding its row to commit, and then takes its points too.
                conn.execute(delete(metrics).where(metrics.c.run_id.in_(part)))
            return n

        n = run_write(self._engine, write)
        for run_id in ids:
            shutil.rmtree(self._store.artifacts_dir / run_id, ignore_errors=True)
        return n

    # -- artifacts -----------------------------------------------------------------------------
    def copy_artifacts(
        self, run_id: str, source: str | os.PathLike[str], name: str | None
    ) -> list[dict[str, Any]]:
        """Copy a file or folder into the run's artifact folder (atomically per file)."""
        return save_artifacts(self._store.artifacts_dir, run_id, source, name)

    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """A run's artifacts, by name."""
        q = select(artifacts).where(artifacts.c.run_id == run_id).order_by(artifacts.c.name)
        with read(self._engine) as conn:
            return [ArtifactRecord(r.name, r.size, r.sha256, r.created_at) for r in conn.execute(q)]

    def artifact_file(self, run_id: str, name: str) -> Path:
        """The local path of a stored artifact."""
        path = artifact_path(self._store.artifacts_dir, run_id, name)
        if not path.is_file():
            raise NotFoundError(f"run {run_id} has no artifact named {name!r}")
        return path

    def check_query(
        self, project: str | Sequence[str] | None = None, where: str | Node | None = None
    ) -> None:
        """Refuse what would silently match nothing because of a typo.

        An unknown project raises NotFoundError naming the projects there are; a filter on a
        metric, param or tag key that no run of those projects has raises QueryError with the
        closest key. (``search`` itself stays permissive: an empty result is an answer.)
        """
        names = [] if project is None else [project] if isinstance(project, str) else list(project)
        node = parse_filter(where) if isinstance(where, str) or where is None else where
        wanted = [f for f in fields_of(node) if f.kind != "attr"]
        if not names and not wanted:
            return
        with read(self._engine) as conn:
            found = set(
                conn.execute(select(projects.c.name).where(projects.c.name.in_(names))).scalars()
            )
            # One indexed probe per key; the full key listing (for the hint) only on a miss.
            missing = [f for f in wanted if not _has_key(conn, f.kind, f.key, names or None)]
        for name in names:
            if name not in found:
                known = [p.name for p in self._store.list_projects()]
                listing = ", ".join(repr(k) for k in known) if known else "none yet"
                raise NotFoundError(
                    f"no project named {name!r}{did_you_mean(name, known)} "
                    f"(projects: {listing}); list them with `loopml projects`"
                )
        if not missing:
            return
        keys = self._keys_in(names or None)
        for field_ in missing:
            others = [f"{field_.kind}s.{k}" for k in keys[field_.kind]]
            where_ = f"project {names[0]!r}" if len(names) == 1 else "these projects"
            raise QueryError(f"no run in {where_} has {field_}{did_you_mean(str(field_), others)}")

    def _keys_in(self, projects_: list[str] | None) -> dict[str, set[str]]:
        """The metric, param and tag keys that runs of ``projects_`` (or any run) have."""
        run_ids = select(runs.c.id)
        if projects_ is not None:
            run_ids = run_ids.join(projects, projects.c.id == runs.c.project_id).where(
                projects.c.name.in_(projects_)
            )
        with read(self._engine) as conn:
            m, p, t = _keys_of(conn, run_ids)
        return {"metric": set(m), "param": set(p), "tag": set(t)}

    def maintain(self) -> None:
        """Fold SQLite's write-ahead log into the database file (a no-op on PostgreSQL)."""
        self._store.checkpoint()

    # -- the runs table and charts -------------------------------------------------------------
    def page(
        self,
        project: str | Sequence[str] | None = None,
        where: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> RunsPage:
        """A page of runs and the total count (queries for ids and count, then a bulk load)."""
        total = self.count(project, where)
        records = self.search(project, where, order_by, limit, offset)
        return RunsPage(records, total, offset, limit)

    def column_choices(self, project: str | None = None, sample: int = 2000) -> ColumnChoices:
        """Keys used by the ``sample`` most recent runs (of ``project``): three indexed queries.

        Sampling the recent runs keeps this fast with 100,000 runs; keys only older runs used
        can still be typed into a filter or an explicit column list.
        """
        recent = select(runs.c.id).order_by(runs.c.created_at.desc()).limit(sample)
        with read(self._engine) as conn:
            if project is not None:
                pid = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
                if pid is None:
                    return ColumnChoices()
                recent = recent.where(runs.c.project_id == pid)
            m, p, t = _keys_of(conn, select(recent.subquery().c.id))
        return ColumnChoices(sorted(p), sorted(m), sorted(t))

    def series(
        self, run_ids: Sequence[str], key: str, max_points: int = MAX_SERIES_POINTS
    ) -> dict[str, Series]:
        """Series ``key`` of each run for a chart, at most ``max_points`` points each."""
        return metric_series(self._engine, self._store.url, run_ids, key, max_points)


def _has_key(conn: Connection, kind: str, key: str, projects_: list[str] | None) -> bool:
    """Whether some run (of ``projects_``) has the metric, param or tag ``key``."""
    match: ColumnElement[bool]
    if kind == "metric":
        table = metric_summary
        match = metric_summary.c.key_id.in_(
            select(metric_keys.c.id).where(metric_keys.c.name == key)
        )
    else:
        table = params if kind == "param" else tags
        match = table.c.key == key
    probe = select(table.c.run_id).where(match)
    if projects_ is not None:
        probe = (
            probe.join(runs, runs.c.id == table.c.run_id)
            .join(projects, projects.c.id == runs.c.project_id)
            .where(projects.c.name.in_(projects_))
        )
    return conn.execute(probe.limit(1)).first() is not None


def _keys_of(conn: Connection, run_ids: Select[Any]) -> tuple[list[str], list[str], list[str]]:
    """The metric, param and tag keys the runs ``run_ids`` selects have: three indexed queries."""
    metric = select(metric_keys.c.name).where(
        metric_keys.c.id.in_(
            select(metric_summary.c.key_id).where(metric_summary.c.run_id.in_(run_ids))
        )
    )
    param = select(params.c.key).distinct().where(params.c.run_id.in_(run_ids))
    tag = select(tags.c.key).distinct().where(tags.c.run_id.in_(run_ids))
    return (
        [r[0] for r in conn.execute(metric)],
        [r[0] for r in conn.execute(param)],
        [r[0] for r in conn.execute(tag)],
    )
