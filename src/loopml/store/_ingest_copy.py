"""PostgreSQL's fast ingest path: a batch's points as columns, aggregated by numpy, sent by COPY.

Row inserts cost PostgreSQL and the driver tens of microseconds a point; one binary ``COPY`` of
the whole batch costs about one. The aggregates (per-key summary, per-bucket extremes) are the
same as ``_ingest.aggregate_points`` and ``_ingest._bucket_points`` compute point by point, with
the same ties: the last point logged at a key's highest step is its ``last``, and a bucket's
extremes are the first points logged with its lowest and highest value; NaN takes no part in
extremes. A test checks the two paths agree on random batches.

COPY cannot update a row already stored, so it runs under a savepoint: a batch that logs a step
again (a conflict) rolls back to it and takes the upsert path instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from loopml.store._records import PackedPoints, Point
from loopml.store._schema_runs import BUCKET_STEPS, FLAG_NAN, FLAG_NEG_ZERO, FLAG_NONE

__all__ = [
    "PointColumns",
    "aggregate_columns",
    "copy_points",
    "packed_columns",
    "point_columns",
]

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TRAILER = b"\xff\xff"
_COPY_SQL = "COPY metrics (run_id, key_id, step, value, flag, ts) FROM STDIN (FORMAT BINARY)"


@dataclass(frozen=True)
class PointColumns:
    """One run's points as arrays, in logging order: key ids, steps, times, values."""

    key_id: np.ndarray  # int64
    step: np.ndarray  # int64
    ts: np.ndarray  # float64
    value: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.step)

    def stored(self) -> np.ndarray:
        """Indices of the points that end up stored: one per (key, step), the last logged,
        in (key, step) order (the primary key's order, which PostgreSQL inserts fastest)."""
        order = np.lexsort((np.arange(len(self)), self.step, self.key_id))
        k, s = self.key_id[order], self.step[order]
        keep = np.ones(len(order), dtype=bool)
        keep[:-1] = (k[1:] != k[:-1]) | (s[1:] != s[:-1])
        return order[keep]

    def rows(self, run_id: str) -> list[tuple[Any, ...]]:
        """The stored points as ``metrics`` rows (the upsert path's form)."""
        idx = self.stored()
        value = self.value[idx]
        nan = np.isnan(value)
        neg_zero = (value == 0.0) & np.signbit(value)
        flag = np.where(nan, FLAG_NAN, np.where(neg_zero, FLAG_NEG_ZERO, FLAG_NONE))
        values: list[float | None] = np.where(neg_zero, 0.0, value).tolist()
        for i in np.flatnonzero(nan).tolist():
            values[i] = None
        return list(
            zip(
                [run_id] * len(idx),
                self.key_id[idx].tolist(),
                self.step[idx].tolist(),
                values,
                flag.tolist(),
                self.ts[idx].tolist(),
                strict=True,
            )
        )


def point_columns(points: list[Point], key_ids: dict[str, int]) -> PointColumns:
    """``points`` ((step, time, key, value) tuples) as columns."""
    steps, times, keys, values = zip(*points, strict=True)
    return PointColumns(
        np.array([key_ids[k] for k in keys], dtype=np.int64),
        np.array(steps, dtype=np.int64),
        np.array(times, dtype=np.float64),
        np.array(values, dtype=np.float64),
    )


def packed_columns(packed: PackedPoints, key_ids: dict[str, int]) -> PointColumns:
    """Points the server received packed (``store._wire``) as columns of key ids."""
    ids = np.array([key_ids[k] for k in packed.keys], dtype=np.int64)
    return PointColumns(
        ids[packed.key],
        packed.step.astype(np.int64),
        packed.ts.astype(np.float64),
        packed.value.astype(np.float64),
    )


def _groups(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each run of equal ``keys`` in arrays already sorted by them."""
    n = len(keys[0])
    change = np.zeros(max(n - 1, 0), dtype=bool)
    for k in keys:
        change |= k[1:] != k[:-1]
    starts = np.concatenate(([0], np.flatnonzero(change) + 1))
    ends = np.concatenate((starts[1:], [n]))
    return starts, ends


def aggregate_columns(
    c: PointColumns,
) -> tuple[dict[int, list[Any]], dict[tuple[int, int], list[Any]]]:
    """Per key ``[last_step, last, min, max, count]`` and per (key, bucket) ``[count, lo_step,
    lo_value, lo_ts, hi_step, hi_value, hi_ts]``, as ``aggregate_points``/``_bucket_points``."""
    n = len(c)
    idx = np.arange(n)
    # Summary: sorted by (key, step, logging order), a key's last row is its ``last``.
    order = np.lexsort((idx, c.step, c.key_id))
    k = c.key_id[order]
    starts, ends = _groups(k)
    last = order[ends - 1]
    agg: dict[int, list[Any]] = {
        kid: [step, value, None, None, count]
        for kid, step, value, count in zip(
            k[starts].tolist(),
            c.step[last].tolist(),
            c.value[last].tolist(),
            (ends - starts).tolist(),
            strict=True,
        )
    }
    bucket = np.floor_divide(c.step, BUCKET_STEPS)
    order = np.lexsort((bucket, c.key_id))
    starts, ends = _groups(c.key_id[order], bucket[order])
    buckets: dict[tuple[int, int], list[Any]] = {
        (kid, b): [count, None, None, None, None, None, None]
        for kid, b, count in zip(
            c.key_id[order][starts].tolist(),
            bucket[order][starts].tolist(),
            (ends - starts).tolist(),
            strict=True,
        )
    }
    ok = np.flatnonzero(~np.isnan(c.value))
    if len(ok):
        kid, bkt, val, pos = c.key_id[ok], bucket[ok], c.value[ok], idx[ok]
        # Lowest value first, then the first logged: each group's first row is its minimum.
        lo = ok[np.lexsort((pos, val, kid))]
        hi = ok[np.lexsort((pos, -val, kid))]
        s, _ = _groups(c.key_id[lo])
        for key, low, high in zip(
            c.key_id[lo[s]].tolist(),
            c.value[lo[s]].tolist(),
            c.value[hi[s]].tolist(),
            strict=True,
        ):
            agg[key][2], agg[key][3] = low, high
        for order_, at in (
            (np.lexsort((pos, val, bkt, kid)), 1),
            (np.lexsort((pos, -val, bkt, kid)), 4),
        ):
            first = ok[order_]
            s, _ = _groups(c.key_id[first], bucket[first])
            rows = first[s]
            for key, b, step, value, ts in zip(
                c.key_id[rows].tolist(),
                bucket[rows].tolist(),
                c.step[rows].tolist(),
                c.value[rows].tolist(),
                c.ts[rows].tolist(),
                strict=True,
            ):
                buckets[(key, b)][at : at + 3] = [step, value, ts]
    return agg, buckets


def _binary_rows(run_id: str, c: PointColumns) -> bytes:
    """The stored points in COPY's binary row format: fixed-width records built by numpy.

    A NaN is stored as NULL with its flag (as ``encode_value`` does), which has no value bytes,
    so those rows are a second record layout appended after the others (COPY keeps no order).
    """
    rid = run_id.encode()
    idx = c.stored()
    value = c.value[idx]
    nan = np.isnan(value)
    neg_zero = (value == 0.0) & np.signbit(value)
    out = []
    for rows, with_value in ((np.flatnonzero(~nan), True), (np.flatnonzero(nan), False)):
        if not len(rows):
            continue
        fields: list[tuple[str, str]] = [
            ("n", ">i2"),
            ("l0", ">i4"),
            ("rid", f"S{len(rid)}"),
            ("l1", ">i4"),
            ("kid", ">i4"),
            ("l2", ">i4"),
            ("step", ">i8"),
            ("l3", ">i4"),
        ]
        if with_value:
            fields.append(("value", ">f8"))
        fields += [("l4", ">i4"), ("flag", ">i2"), ("l5", ">i4"), ("ts", ">f8")]
        rec = np.empty(len(rows), dtype=np.dtype(fields))
        rec["n"] = 6
        rec["l0"] = len(rid)
        rec["rid"] = rid
        rec["l1"] = 4
        rec["kid"] = c.key_id[idx[rows]]
        rec["l2"] = 8
        rec["step"] = c.step[idx[rows]]
        if with_value:
            rec["l3"] = 8
            rec["value"] = np.where(neg_zero[rows], 0.0, value[rows])
            rec["flag"] = np.where(neg_zero[rows], FLAG_NEG_ZERO, FLAG_NONE)
        else:
            rec["l3"] = -1  # NULL
            rec["flag"] = FLAG_NAN
        rec["l4"] = 2
        rec["l5"] = 8
        rec["ts"] = c.ts[idx[rows]]
        out.append(rec.tobytes())
    return b"".join(out)


def copy_points(conn: Connection, run_id: str, c: PointColumns) -> bool:
    """COPY the points into ``metrics``; False (nothing written) if a point's row exists."""
    import psycopg

    data = _SIGNATURE + _binary_rows(run_id, c) + _TRAILER
    savepoint = conn.begin_nested()
    try:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(_COPY_SQL) as copy:  # type: ignore[union-attr]
            copy.write(data)
    except psycopg.errors.UniqueViolation:
        savepoint.rollback()
        return False
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return True
