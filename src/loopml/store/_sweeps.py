"""Store operations for sweeps: the sweep rows, and trials written as ordinary runs in batches.

A sweep writes its trials in batches, one transaction each: the trial's run (``runs`` row with
``sweep_id``), its ``sweep_trials`` row, and what it logged through the same writer as a journal
segment (``_ingest.write_content``: points, summaries, per-bucket extremes, params, tags). A
trial that starts and ends inside one batch costs one row per table, which is what lets a sweep
of trivial trials persist thousands of them per second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, update

from loopml._errors import NotFoundError, ValidationError
from loopml.store._artifacts import save_artifact_bytes
from loopml.store._dialect import bulk_upsert, chunks
from loopml.store._engine import read, run_write
from loopml.store._ingest import RunContent, write_content
from loopml.store._query import Compare, Field
from loopml.store._records import RunRecord
from loopml.store._schema_runs import projects, runs
from loopml.store._schema_sweeps import sweep_trials, sweeps
from loopml.store._sweep_records import (
    SweepInfo,
    SweepRecord,
    SweepSummary,
    TrialRow,
    TrialWrite,
)

if TYPE_CHECKING:
    from loopml.store._store import Store

__all__ = [
    "SweepInfo",
    "SweepRecord",
    "SweepStore",
    "SweepSummary",
    "TrialRow",
    "TrialWrite",
]

_RUN_COLUMNS = (
    "id",
    "project_id",
    "name",
    "status",
    "created_at",
    "ended_at",
    "heartbeat_at",
    "git_commit",
    "git_dirty",
    "command",
    "host",
    "pid",
    "environment",
    "error",
    "sweep_id",
)
_TRIAL_COLUMNS = (
    "sweep_id",
    "number",
    "run_id",
    "state",
    "value",
    "params",
    "distributions",
    "intermediate",
    "attempts",
    "objective_key",
    "cache_key",
    "cached_from",
    "started_at",
    "ended_at",
)


# Trial states map to run statuses one to one, except that a trial still to run is a running run.
_RUN_STATUS = {
    "running": "running",
    "finished": "finished",
    "failed": "failed",
    "pruned": "pruned",
    "killed": "killed",
}


class SweepStore:
    """Sweep operations on a :class:`Store` (thread-safe like the store itself)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- sweeps --------------------------------------------------------------------------------
    def create_sweep(
        self,
        sweep_id: str,
        project: str,
        name: str,
        metric: str,
        direction: str,
        objective: str,
        config: dict[str, Any],
    ) -> None:
        """Insert a new ``running`` sweep."""

        def write(conn: Connection) -> None:
            pid = self.store.project_id(conn, project)
            conn.execute(
                sweeps.insert().values(
                    id=sweep_id,
                    project_id=pid,
                    name=name,
                    status="running",
                    metric=metric,
                    direction=direction,
                    objective=objective,
                    config=json.dumps(config),
                    created_at=time.time(),
                )
            )

        run_write(self.engine, write)

    def set_status(self, sweep_id: str, status: str) -> None:
        """Set a sweep's status (``running``, ``finished``, ``stopped``)."""
        values: dict[str, Any] = {
            "status": status,
            "ended_at": None if status == "running" else time.time(),
        }
        stmt = update(sweeps).where(sweeps.c.id == sweep_id).values(**values)
        run_write(self.engine, lambda conn: conn.execute(stmt))

    def resolve_id(self, sweep_id: str) -> str:
        """Expand a unique prefix (at least 4 characters) to a full sweep id."""
        if not isinstance(sweep_id, str) or not sweep_id:
            raise ValidationError(f"a sweep id must be a non-empty string, not {sweep_id!r}")
        with read(self.engine) as conn:
            if conn.execute(select(sweeps.c.id).where(sweeps.c.id == sweep_id)).first():
                return sweep_id
            found = []
            if len(sweep_id) >= 4:
                escaped = sweep_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                query = (
                    select(sweeps.c.id).where(sweeps.c.id.like(escaped + "%", escape="\\")).limit(2)
                )
                found = [r[0] for r in conn.execute(query)]
        if not found:
            raise NotFoundError(
                f"no sweep with id {sweep_id!r}; list sweeps with `loopml sweep list`"
            )
        if len(found) > 1:
            raise ValidationError(
                f"sweep id prefix {sweep_id!r} is ambiguous; give more characters"
            )
        return str(found[0])

    def get(self, sweep_id: str) -> SweepRecord:
        """One sweep, by id or unique id prefix."""
        sweep_id = self.resolve_id(sweep_id)
        return self.list_sweeps(ids=[sweep_id])[0]

    def list_sweeps(
        self, project: str | None = None, ids: Sequence[str] | None = None, limit: int = 100
    ) -> list[SweepRecord]:
        """Sweeps, newest first."""
        query = (
            select(sweeps, projects.c.name.label("project"))
            .select_from(sweeps.join(projects, projects.c.id == sweeps.c.project_id))
            .order_by(sweeps.c.created_at.desc())
            .limit(limit)
        )
        if project is not None:
            query = query.where(projects.c.name == project)
        if ids is not None:
            query = query.where(sweeps.c.id.in_(list(ids)))
        with read(self.engine) as conn:
            return [
                SweepRecord(
                    r.id,
                    r.project,
                    r.name,
                    r.status,
                    r.metric,
                    r.direction,
                    r.objective,
                    json.loads(r.config),
                    r.created_at,
                    r.ended_at,
                )
                for r in conn.execute(query)
            ]

    def trial_counts(self, sweep_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per sweep, how many trials are in each state."""
        out: dict[str, dict[str, int]] = {i: {} for i in sweep_ids}
        query = (
            select(sweep_trials.c.sweep_id, sweep_trials.c.state, func.count())
            .where(sweep_trials.c.sweep_id.in_(list(sweep_ids)))
            .group_by(sweep_trials.c.sweep_id, sweep_trials.c.state)
        )
        with read(self.engine) as conn:
            for sid, state, n in conn.execute(query):
                out[sid][state] = int(n)
        return out

    # -- trials --------------------------------------------------------------------------------
    def load_trials(self, sweep_id: str) -> list[TrialRow]:
        """Every stored trial of a sweep, by number."""
        query = (
            select(sweep_trials)
            .where(sweep_trials.c.sweep_id == sweep_id)
            .order_by(sweep_trials.c.number)
        )
        with read(self.engine) as conn:
            return [
                TrialRow(
                    number=r.number,
                    run_id=r.run_id,
                    state=r.state,
                    value=r.value,
                    params=json.loads(r.params),
                    distributions=json.loads(r.distributions),
                    intermediate={int(k): v for k, v in json.loads(r.intermediate or "{}").items()},
                    attempts=r.attempts,
                    cache_key=r.cache_key,
                    cached_from=r.cached_from,
                    started_at=r.started_at,
                    ended_at=r.ended_at,
                )
                for r in conn.execute(query)
            ]

    def cached_results(self, objective_key: str) -> dict[str, tuple[float, str]]:
        """Finished results of an objective, any sweep: cache key -> (value, run id)."""
        query = select(sweep_trials.c.cache_key, sweep_trials.c.value, sweep_trials.c.run_id).where(
            sweep_trials.c.objective_key == objective_key, sweep_trials.c.state == "finished"
        )
        with read(self.engine) as conn:
            return {
                r.cache_key: (float(r.value), r.run_id)
                for r in conn.execute(query)
                if r.value is not None
            }

    def write_trials(
        self, project: str, sweep_id: str, attributes: dict[str, Any], trials: Sequence[TrialWrite]
    ) -> None:
        """Write trials' runs and ``sweep_trials`` rows in one transaction (upserts: idempotent)."""
        if not trials:
            return
        names = {p[2] for t in trials for p in t.points}
        key_ids = self.store.runs.intern_keys(names) if names else {}
        now = time.time()
        # Files first, rows in the transaction (as a run's log_artifact): a file without its
        # row is never listed, and a retried write replaces both.
        saved = {
            t.run_id: [
                save_artifact_bytes(self.store.artifacts_dir, t.run_id, name, data)
                for name, data in t.files.items()
            ]
            for t in trials
            if t.files
        }

        def write(conn: Connection) -> None:
            pid = self.store.project_id(conn, project)
            run_rows: list[tuple[Any, ...]] = []
            trial_rows: list[tuple[Any, ...]] = []
            contents: list[RunContent] = []
            for t in trials:
                run_rows.append(
                    (
                        t.run_id,
                        pid,
                        t.name,
                        _RUN_STATUS[t.state],
                        t.started_at,
                        t.ended_at,
                        now,
                        attributes.get("git_commit"),
                        attributes.get("git_dirty"),
                        attributes.get("command"),
                        attributes.get("host"),
                        attributes.get("pid"),
                        attributes.get("environment"),
                        t.error,
                        sweep_id,
                    )
                )
                trial_rows.append(
                    (
                        sweep_id,
                        t.number,
                        t.run_id,
                        t.state,
                        t.value if t.value is None or t.value == t.value else None,
                        json.dumps(t.params),
                        json.dumps(t.distributions),
                        json.dumps(t.intermediate) if t.intermediate else None,
                        t.attempts,
                        t.objective_key,
                        t.cache_key,
                        t.cached_from,
                        t.started_at,
                        t.ended_at,
                    )
                )
                contents.append(
                    RunContent(
                        t.run_id, t.points, t.encoded_params, t.tags, saved.get(t.run_id, [])
                    )
                )
            bulk_upsert(
                conn,
                runs,
                ["id"],
                ["status", "ended_at", "heartbeat_at", "error"],
                _RUN_COLUMNS,
                run_rows,
            )
            # One attempt's points replace the run's series (a retried trial starts over).
            write_content(conn, contents, key_ids, merge=False)
            bulk_upsert(
                conn,
                sweep_trials,
                ["sweep_id", "number"],
                ["run_id", "state", "value", "intermediate", "attempts", "cached_from", "ended_at"],
                _TRIAL_COLUMNS,
                trial_rows,
            )

        run_write(self.engine, write)

    def mark_in_flight(self, sweep_id: str, state: str, error: str) -> list[int]:
        """Mark a sweep's ``running`` trials (and their runs) ``state``; returns their numbers."""

        def write(conn: Connection) -> list[int]:
            rows = conn.execute(
                select(sweep_trials.c.number, sweep_trials.c.run_id).where(
                    sweep_trials.c.sweep_id == sweep_id, sweep_trials.c.state == "running"
                )
            ).all()
            now = time.time()
            for part in chunks([r.run_id for r in rows]):
                conn.execute(
                    update(runs)
                    .where(runs.c.id.in_(part), runs.c.status.in_(("running", "crashed")))
                    .values(status=state, ended_at=now, error=error)
                )
            conn.execute(
                update(sweep_trials)
                .where(sweep_trials.c.sweep_id == sweep_id, sweep_trials.c.state == "running")
                .values(state=state, ended_at=now)
            )
            return [int(r.number) for r in rows]

        return run_write(self.engine, write)

    # -- what the dashboard shows --------------------------------------------------------------
    def summaries(self, project: str | None = None) -> list[SweepSummary]:
        """Every sweep id found on runs, newest first, with trial counts by status (one query)."""
        activity = func.max(func.coalesce(runs.c.heartbeat_at, runs.c.ended_at, runs.c.created_at))
        q = (
            select(
                runs.c.sweep_id,
                projects.c.name,
                runs.c.status,
                func.count().label("n"),
                func.min(runs.c.created_at).label("first"),
                activity.label("last"),
            )
            .select_from(runs.join(projects, projects.c.id == runs.c.project_id))
            .where(runs.c.sweep_id.is_not(None))
            .group_by(runs.c.sweep_id, projects.c.name, runs.c.status)
        )
        if project is not None:
            q = q.where(projects.c.name == project)
        found: dict[str, SweepSummary] = {}
        with read(self.engine) as conn:
            for r in conn.execute(q):
                s = found.get(r.sweep_id)
                if s is None:
                    s = found[r.sweep_id] = SweepSummary(r.sweep_id, r.name, 0, {}, r.first, r.last)
                s.by_status[r.status] = int(r.n)
                last: float | None = s.last_activity
                if r.last is not None and (last is None or r.last > last):
                    last = float(r.last)
                found[r.sweep_id] = SweepSummary(
                    s.sweep_id,
                    s.project,
                    s.trials + int(r.n),
                    s.by_status,
                    min(s.started_at, r.first),
                    last,
                )
        out = list(found.values())
        out.sort(key=lambda s: s.started_at, reverse=True)
        return out

    def trial_runs(self, sweep_id: str, limit: int | None = 10_000) -> list[RunRecord]:
        """The trials of a sweep (its runs), oldest first, loaded in bulk."""
        node = Compare(Field("attr", "sweep_id"), "=", sweep_id)
        return self.store.runs.search(None, node, "created_at", limit)

    def infos(self, sweep_ids: Sequence[str]) -> dict[str, SweepInfo]:
        """The stored records of these sweeps (one query); ids without a record are left out."""
        found = self.list_sweeps(ids=list(sweep_ids), limit=max(1, len(sweep_ids)))
        return {rec.id: SweepInfo.of(rec) for rec in found}

    def info(self, sweep_id: str) -> SweepInfo | None:
        """The stored record of one sweep, or None when its trials were logged without one."""
        return self.infos([sweep_id]).get(sweep_id)

    def distributions(self, sweep_id: str) -> dict[str, dict[str, str]]:
        """Per trial run id, the Optuna distributions (as JSON) its sampled params came from."""
        return {t.run_id: t.distributions for t in self.load_trials(sweep_id)}
