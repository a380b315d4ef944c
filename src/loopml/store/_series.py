"""Metric series as a chart is sent them: whole when short, downsampled in the database when long.

A long series is drawn from the per-bucket extremes kept at ingest (``metric_buckets``), or
reduced by one query to the minimum and maximum of each step range, so a million points never
cross into Python and spikes survive.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, text

from loopml._errors import ValidationError
from loopml.store._engine import read
from loopml.store._ingest import decode_value
from loopml.store._schema_runs import metric_buckets, metric_keys, metric_summary, metrics

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["MAX_SERIES_POINTS", "Series", "metric_series"]

# The most points a chart is sent per series; longer series are downsampled to this.
MAX_SERIES_POINTS = 5000


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
    engine: Engine, url: str, run_ids: Sequence[str], key: str, max_points: int = MAX_SERIES_POINTS
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
    with read(engine) as conn:
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
                cache_key = (url, r, int(key_id), counts[r], max_points)
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
    buckets do not cover every point (a retried sweep trial whose earlier attempt logged further)."""
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
