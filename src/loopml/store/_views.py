"""Read queries for the dashboard: pages of runs, column choices, downsampled series, sweeps.

Every function takes a :class:`Store` and issues a fixed number of queries whatever the number
of runs it shows (records are loaded in bulk by ``Store.get_runs``). A long metric series is
downsampled inside the database, so a million points never cross into Python.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select, text

from loopml._errors import ValidationError
from loopml.store._engine import read
from loopml.store._ingest import decode_value
from loopml.store._query import Compare, Field
from loopml.store._records import RunRecord
from loopml.store._schema_runs import (
    metric_buckets,
    metric_keys,
    metric_summary,
    metrics,
    params,
    projects,
    runs,
    tags,
)
from loopml.store._store import Store

__all__ = [
    "MAX_SERIES_POINTS",
    "ColumnChoices",
    "RunsPage",
    "Series",
    "SweepInfo",
    "SweepSummary",
    "column_choices",
    "list_sweeps",
    "metric_series",
    "runs_page",
    "sweep_distributions",
    "sweep_record",
    "sweep_records",
    "sweep_runs",
]

# The most points a chart is sent per series; longer series are downsampled to this.
MAX_SERIES_POINTS = 5000


@dataclass(frozen=True)
class RunsPage:
    """One page of a runs query: the records, and how many runs match in all."""

    runs: list[RunRecord]
    total: int
    offset: int
    limit: int


def runs_page(
    store: Store,
    project: str | Sequence[str] | None = None,
    where: str | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RunsPage:
    """A page of runs and the total count (three queries for ids and count, then a bulk load)."""
    total = store.count_runs(project, where)
    records = store.search_runs(project, where, order_by, limit, offset)
    return RunsPage(records, total, offset, limit)


@dataclass(frozen=True)
class ColumnChoices:
    """The param, metric and tag keys a runs table can show as columns."""

    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def column_choices(store: Store, project: str | None = None, sample: int = 2000) -> ColumnChoices:
    """Keys used by the ``sample`` most recent runs (of ``project``): three indexed queries.

    Sampling the recent runs keeps this fast with 100,000 runs; keys only older runs used can
    still be typed into a filter or an explicit column list.
    """
    recent = select(runs.c.id).order_by(runs.c.created_at.desc()).limit(sample)
    with read(store.engine) as conn:
        if project is not None:
            pid = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
            if pid is None:
                return ColumnChoices()
            recent = recent.where(runs.c.project_id == pid)
        ids_sub = select(recent.subquery().c.id)
        p = [
            r[0]
            for r in conn.execute(
                select(params.c.key).distinct().where(params.c.run_id.in_(ids_sub))
            )
        ]
        t = [
            r[0]
            for r in conn.execute(select(tags.c.key).distinct().where(tags.c.run_id.in_(ids_sub)))
        ]
        mk = select(metric_keys.c.name).where(
            metric_keys.c.id.in_(
                select(metric_summary.c.key_id).where(metric_summary.c.run_id.in_(ids_sub))
            )
        )
        m = [r[0] for r in conn.execute(mk)]
    return ColumnChoices(sorted(p), sorted(m), sorted(t))


@dataclass(frozen=True)
class Series:
    """One run's metric series as sent to a chart (NaN for points that were NaN)."""

    run_id: str
    key: str
    steps: list[int]
    times: list[float]
    values: list[float]
    total: int
    downsampled: bool


def metric_series(
    store: Store, run_ids: Sequence[str], key: str, max_points: int = MAX_SERIES_POINTS
) -> dict[str, Series]:
    """Series ``key`` of each run, at most ``max_points`` points each.

    Short series (the usual case) come back whole in one query for all runs. A longer one is
    reduced in the database to the minimum and the maximum of each of ``max_points // 2`` step
    buckets, so spikes survive (one query per long series; NaN points are dropped there).
    """
    if not isinstance(max_points, int) or isinstance(max_points, bool) or max_points < 4:
        raise ValidationError(f"max_points must be an integer of at least 4, not {max_points!r}")
    run_ids = list(dict.fromkeys(run_ids))
    out: dict[str, Series] = {}
    if not run_ids:
        return out
    with read(store.engine) as conn:
        key_id = conn.execute(select(metric_keys.c.id).where(metric_keys.c.name == key)).scalar()
        if key_id is None:
            return {r: Series(r, key, [], [], [], 0, False) for r in run_ids}
        counts = {
            run_id: int(n)
            for run_id, n in conn.execute(
                select(metric_summary.c.run_id, metric_summary.c.count).where(
                    metric_summary.c.run_id.in_(run_ids), metric_summary.c.key_id == key_id
                )
            )
        }
        small = [r for r in run_ids if counts.get(r, 0) <= max_points]
        if small:
            rows: dict[str, tuple[list[int], list[float], list[float]]] = {
                r: ([], [], []) for r in small
            }
            q = (
                select(
                    metrics.c.run_id, metrics.c.step, metrics.c.ts, metrics.c.value, metrics.c.flag
                )
                .where(metrics.c.run_id.in_(small), metrics.c.key_id == key_id)
                .order_by(metrics.c.run_id, metrics.c.step)
            )
            for run_id, step, ts, value, flag in conn.execute(q):
                s, t, v = rows[run_id]
                s.append(int(step))
                t.append(float(ts))
                v.append(decode_value(value, flag))
            for r, (s, t, v) in rows.items():
                out[r] = Series(r, key, s, t, v, len(s), False)
        for r in run_ids:
            if r not in out:
                cache_key = (store.url, r, int(key_id), counts[r], max_points)
                hit = _DOWNSAMPLED.get(cache_key)
                if hit is None:
                    hit = _downsampled(conn, r, key, int(key_id), counts[r], max_points)
                    _DOWNSAMPLED.put(cache_key, hit)
                out[r] = hit
    return {r: out[r] for r in run_ids}


class _LRU:
    """A small thread-safe LRU of downsampled series.

    Keyed by the series' point count, which every ingest of that key changes, so an entry is
    never stale: a finished run's long chart is computed once, not on every page view.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], Series] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Series | None:
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, key: tuple[Any, ...], value: Series) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_DOWNSAMPLED = _LRU(64)


_SQLITE_BUCKETS = text(
    """
WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < :n - 1)
SELECT i,
  (SELECT iif(min(value) IS NULL, NULL, printf('%!.17g %d %!.17g', min(value), step, ts))
     FROM metrics WHERE run_id = :run AND key_id = :key
      AND step >= :lo + i * :w AND step < :lo + (i + 1) * :w),
  (SELECT iif(max(value) IS NULL, NULL, printf('%!.17g %d %!.17g', max(value), step, ts))
     FROM metrics WHERE run_id = :run AND key_id = :key
      AND step >= :lo + i * :w AND step < :lo + (i + 1) * :w)
FROM b
"""
)

_POSTGRES_BUCKETS = text(
    """
SELECT i, lo.value, lo.step, lo.ts, hi.value, hi.step, hi.ts
FROM generate_series(0, CAST(:n AS bigint) - 1) AS i
LEFT JOIN LATERAL (
  SELECT value, step, ts FROM metrics WHERE run_id = :run AND key_id = :key
    AND step >= :lo + i * :w AND step < :lo + (i + 1) * :w AND value IS NOT NULL
  ORDER BY value ASC LIMIT 1) lo ON true
LEFT JOIN LATERAL (
  SELECT value, step, ts FROM metrics WHERE run_id = :run AND key_id = :key
    AND step >= :lo + i * :w AND step < :lo + (i + 1) * :w AND value IS NOT NULL
  ORDER BY value DESC LIMIT 1) hi ON true
ORDER BY i
"""
)


def _downsampled(
    conn: Connection, run_id: str, key: str, key_id: int, total: int, max_points: int
) -> Series:
    from_buckets = _from_buckets(conn, run_id, key, key_id, total, max_points)
    if from_buckets is not None:
        return from_buckets
    return _scanned(conn, run_id, key, key_id, total, max_points)


def _from_buckets(
    conn: Connection, run_id: str, key: str, key_id: int, total: int, max_points: int
) -> Series | None:
    """The series from the per-bucket extremes kept at ingest, merged into at most
    ``max_points // 2`` groups; None when there are fewer buckets than groups, or when the
    buckets do not cover every point (e.g. points written by a sweep's batch path)."""
    rows = conn.execute(
        select(metric_buckets)
        .where(metric_buckets.c.run_id == run_id, metric_buckets.c.key_id == key_id)
        .order_by(metric_buckets.c.bucket)
    ).all()
    if len(rows) < max_points // 2 or sum(r._mapping["count"] for r in rows) != total:
        # Too few blocks to give the resolution asked for (a scan of a series this short is
        # quick), or blocks that miss points: scan instead.
        return None
    group = max(1, math.ceil(len(rows) / max(1, max_points // 2)))
    points: list[tuple[int, float, float]] = []
    for i in range(0, len(rows), group):
        lo = hi = None
        for r in rows[i : i + group]:
            if r.lo_value is not None and (lo is None or r.lo_value < lo[2]):
                lo = (int(r.lo_step), float(r.lo_ts), float(r.lo_value))
            if r.hi_value is not None and (hi is None or r.hi_value > hi[2]):
                hi = (int(r.hi_step), float(r.hi_ts), float(r.hi_value))
        points.extend(sorted({p for p in (lo, hi) if p is not None}))
    return _reduced(run_id, key, points, total)


def _reduced(run_id: str, key: str, points: list[tuple[int, float, float]], total: int) -> Series:
    """A downsampled series from (step, time, value) points in step order."""
    return Series(
        run_id,
        key,
        [p[0] for p in points],
        [p[1] for p in points],
        [p[2] for p in points],
        total,
        True,
    )


def _scanned(
    conn: Connection, run_id: str, key: str, key_id: int, total: int, max_points: int
) -> Series:
    # Buckets split the step range evenly; each walks its slice of the primary-key index, so
    # no sort of the whole series is needed (a GROUP BY on an expression would sort it).
    lo, hi = conn.execute(
        select(func.min(metrics.c.step), func.max(metrics.c.step)).where(
            metrics.c.run_id == run_id, metrics.c.key_id == key_id
        )
    ).one()
    n = max(1, max_points // 2)
    width = max(1, math.ceil((int(hi) - int(lo) + 1) / n))
    n = math.ceil((int(hi) - int(lo) + 1) / width)
    bind = {"n": n, "run": run_id, "key": key_id, "lo": int(lo), "w": width}
    points: list[tuple[int, float, float]] = []
    if conn.dialect.name == "sqlite":
        for _i, low, high in conn.execute(_SQLITE_BUCKETS, bind):
            pair: list[tuple[int, float, float]] = []
            for packed in (low, high):
                if packed is not None:
                    v, s, t = packed.split(" ")
                    pair.append((int(s), float(t), float(v)))
            points.extend(sorted(set(pair)))
    else:
        for _i, lv, ls, lt, hv, hs, ht in conn.execute(_POSTGRES_BUCKETS, bind):
            found = {
                (int(s), float(t), float(v))
                for v, s, t in ((lv, ls, lt), (hv, hs, ht))
                if v is not None
            }
            points.extend(sorted(found))
    return _reduced(run_id, key, points, total)


@dataclass(frozen=True)
class SweepSummary:
    """A sweep as seen from its trials (runs sharing a ``sweep_id``)."""

    sweep_id: str
    project: str
    trials: int
    by_status: dict[str, int]
    started_at: float
    last_activity: float | None


def list_sweeps(store: Store, project: str | None = None) -> list[SweepSummary]:
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
    with read(store.engine) as conn:
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


def sweep_runs(store: Store, sweep_id: str, limit: int | None = 10_000) -> list[RunRecord]:
    """The trials of a sweep (its runs), oldest first, loaded in bulk."""
    node = Compare(Field("attr", "sweep_id"), "=", sweep_id)
    return store.search_runs(None, node, "created_at", limit)


@dataclass(frozen=True)
class SweepInfo:
    """What a sweep's own record says (when the sweeps capability stored one)."""

    name: str
    metric: str
    direction: str
    budget: int | None
    status: str


def sweep_records(store: Store, sweep_ids: Sequence[str]) -> dict[str, SweepInfo]:
    """The stored records of these sweeps (one query); ids without a record are left out."""
    from loopml.store._sweeps import SweepStore

    out = {}
    for rec in SweepStore(store).list_sweeps(ids=list(sweep_ids), limit=max(1, len(sweep_ids))):
        budget = rec.config.get("n_trials")
        # The sweeps capability stores ``max`` / ``min``; pages and Optuna speak ``maximize``.
        direction = {"max": "maximize", "min": "minimize"}.get(rec.direction, rec.direction)
        out[rec.id] = SweepInfo(
            rec.name,
            rec.metric,
            direction,
            budget if isinstance(budget, int) and not isinstance(budget, bool) else None,
            rec.status,
        )
    return out


def sweep_record(store: Store, sweep_id: str) -> SweepInfo | None:
    """The stored record of one sweep, or None when its trials were logged without one."""
    return sweep_records(store, [sweep_id]).get(sweep_id)


def sweep_distributions(store: Store, sweep_id: str) -> dict[str, dict[str, str]]:
    """Per trial run id, the Optuna distributions (as JSON) its sampled params came from."""
    from loopml.store._sweeps import SweepStore

    return {t.run_id: t.distributions for t in SweepStore(store).load_trials(sweep_id)}
