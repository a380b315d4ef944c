"""Writing a journal segment's points, params, tags and artifacts in one transaction.

Exactly-once: the ``journals`` row holds how far its journal has been ingested, read (locked) and
advanced in the same transaction as the rows, so a segment replayed by two processes lands once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from loopml._errors import NotFoundError, OffsetMismatch
from loopml.store._dialect import Prepared, bulk_upsert, chunks, insert_rows
from loopml.store._records import Batch, PackedPoints, Point
from loopml.store._schema_runs import (
    BUCKET_STEPS,
    FLAG_NAN,
    FLAG_NEG_ZERO,
    FLAG_NONE,
    artifacts,
    journals,
    metric_buckets,
    metric_summary,
    metrics,
    params,
    runs,
    tags,
)


def encode_value(value: float) -> tuple[float | None, int]:
    """A float as (column value, flag): NaN and -0.0 do not survive a SQLite REAL column."""
    if value != value:
        return None, FLAG_NAN
    if value == 0.0 and math.copysign(1.0, value) < 0:
        return 0.0, FLAG_NEG_ZERO
    return value, FLAG_NONE


def decode_value(value: float | None, flag: int) -> float:
    """Inverse of :func:`encode_value`."""
    if flag == FLAG_NAN or value is None:
        return math.nan
    if flag == FLAG_NEG_ZERO:
        return -0.0
    return float(value)


def ingest_batch(
    conn: Connection,
    journal_id: str,
    run_id: str,
    batch: Batch,
    key_ids: dict[str, int],
    start: int,
    end: int,
    now: float,
    final: dict[str, Any] | None = None,
    close: bool = False,
    project_id: int | None = None,
) -> bool:
    """Ingest journal bytes ``start:end``; False if they were ingested already.

    ``final`` sets the run's end status in the same transaction; ``close`` drops the journal's
    row, for a journal that is complete and about to be deleted. A batch that ``create``s its
    run (the journal's first segment) inserts the run and the journal's row first.
    """
    stored = _OFFSET_Q.run(conn, {"jid": journal_id}).scalar()
    fresh = False
    if stored is None:
        if batch.create is None or start != 0 or project_id is None:
            return False  # journal already closed, or its run deleted
        if _RUN_EXISTS_Q.run(conn, {"rid": run_id}).first() is not None:
            return False  # created and closed before; only the file was left behind
        # A run created and ended in one go (a short run) needs no journal row: nothing else
        # can know of the run before this transaction commits.
        one_shot = close and final is not None
        insert_run(conn, run_id, project_id, batch.create, now, final if one_shot else None)
        if not one_shot:
            _NEW_JOURNAL_Q.run(
                conn, {"id": journal_id, "run_id": run_id, "offset": 0, "created_at": now}
            )
        stored, fresh = 0, True
    if stored > start:
        if stored >= end:
            return False
        raise OffsetMismatch(int(stored))
    if stored != start:
        raise OffsetMismatch(int(stored))
    write_content(
        conn,
        [RunContent(run_id, batch.points, batch.params, batch.tags, batch.artifacts, batch.packed)],
        key_ids,
        merge=not fresh,
        created=frozenset((run_id,)) if fresh else frozenset(),
    )
    if fresh and close and final is not None:
        return True  # one shot: the row was inserted with its final status
    if close:
        _CLOSE_JOURNAL_Q.run(conn, {"jid": journal_id})
        # Another process still writing to this run (its own journal) decides how it ends.
        if final is not None and _OTHER_JOURNAL_Q.run(conn, {"rid": run_id}).first() is not None:
            final = None
    else:
        _ADVANCE_JOURNAL_Q.run(conn, {"jid": journal_id, "off": end})
    if final is None:
        _TOUCH_RUN_Q.run(conn, {"rid": run_id, "heartbeat_at": now})
    else:
        # A final status never overwrites another final one (a sweep may have marked the run
        # killed); ``crashed`` may be corrected by a run that turns out to be alive.
        end_run = _END_RUNS.get(frozenset(final))
        if end_run is None:  # other columns than a run's end sets
            conn.execute(_END_RUN, {"rid": run_id, "heartbeat_at": now, **final})
        else:
            end_run.run(conn, {"rid": run_id, "heartbeat_at": now, **final})
    return True


# Statements built once (building costs more than executing); parameters bound per call.
_OFFSET = select(journals.c.offset).where(journals.c.id == bindparam("jid"))
_OFFSET_FOR_UPDATE = _OFFSET.with_for_update()
_CLOSE_JOURNAL = delete(journals).where(journals.c.id == bindparam("jid"))
_ADVANCE_JOURNAL = (
    update(journals).where(journals.c.id == bindparam("jid")).values(offset=bindparam("off"))
)
_OTHER_JOURNAL = select(journals.c.id).where(journals.c.run_id == bindparam("rid")).limit(1)
_RUN_EXISTS = select(runs.c.id).where(runs.c.id == bindparam("rid"))
_TOUCH_RUN = update(runs).where(runs.c.id == bindparam("rid"))
_END_RUN = update(runs).where(
    runs.c.id == bindparam("rid"), runs.c.status.in_(("running", "crashed"))
)
_BUCKETS = select(metric_buckets).where(
    metric_buckets.c.run_id == bindparam("rid"),
    metric_buckets.c.key_id.in_(bindparam("kids", expanding=True)),
    metric_buckets.c.bucket.between(bindparam("lo"), bindparam("hi")),
)
_SUMMARIES = select(metric_summary).where(
    metric_summary.c.run_id == bindparam("rid"),
    metric_summary.c.key_id.in_(bindparam("kids", expanding=True)),
)
_NEW_JOURNAL = journals.insert().values(
    id=bindparam("id"),
    run_id=bindparam("run_id"),
    offset=bindparam("offset"),
    created_at=bindparam("created_at"),
)
# On SQLite these run from their SQL text (``Prepared``): every one of them is on the path of a
# training script's first ingest or its run's end, where compiling is most of their cost.
_OFFSET_Q = Prepared(
    _OFFSET,
    'SELECT journals."offset" \nFROM journals \nWHERE journals.id = ?',
    ("jid",),
    other=_OFFSET_FOR_UPDATE,
)
_RUN_EXISTS_Q = Prepared(_RUN_EXISTS, "SELECT runs.id \nFROM runs \nWHERE runs.id = ?", ("rid",))
_NEW_JOURNAL_Q = Prepared(
    _NEW_JOURNAL,
    'INSERT INTO journals (id, run_id, "offset", created_at) VALUES (?, ?, ?, ?)',
    ("id", "run_id", "offset", "created_at"),
)
_CLOSE_JOURNAL_Q = Prepared(_CLOSE_JOURNAL, "DELETE FROM journals WHERE journals.id = ?", ("jid",))
_OTHER_JOURNAL_Q = Prepared(
    _OTHER_JOURNAL,
    "SELECT journals.id \nFROM journals \nWHERE journals.run_id = ?\n LIMIT ? OFFSET ?",
    ("rid", "param_1", "param_2"),
    fixed={"param_1": 1, "param_2": 0},
)
_ADVANCE_JOURNAL_Q = Prepared(
    _ADVANCE_JOURNAL, 'UPDATE journals SET "offset"=? WHERE journals.id = ?', ("off", "jid")
)
_TOUCH_RUN_Q = Prepared(
    _TOUCH_RUN.values(heartbeat_at=bindparam("heartbeat_at")),
    "UPDATE runs SET heartbeat_at=? WHERE runs.id = ?",
    ("heartbeat_at", "rid"),
)
_BUCKETS_Q = Prepared(
    _BUCKETS,
    "SELECT metric_buckets.run_id, metric_buckets.key_id, metric_buckets.bucket, "
    "metric_buckets.count, metric_buckets.lo_step, metric_buckets.lo_value, "
    "metric_buckets.lo_ts, metric_buckets.hi_step, metric_buckets.hi_value, "
    "metric_buckets.hi_ts \nFROM metric_buckets \nWHERE metric_buckets.run_id = ? AND "
    "metric_buckets.key_id IN (__[POSTCOMPILE_kids]) AND metric_buckets.bucket BETWEEN ? AND ?",
    ("rid", "kids", "lo", "hi"),
)
_END_RUN_Q = Prepared(
    _END_RUN.values(
        status=bindparam("status"),
        ended_at=bindparam("ended_at"),
        heartbeat_at=bindparam("heartbeat_at"),
    ),
    "UPDATE runs SET status=?, ended_at=?, heartbeat_at=? WHERE runs.id = ? AND runs.status "
    "IN (__[POSTCOMPILE_status_1])",
    ("status", "ended_at", "heartbeat_at", "rid", "status_1"),
    fixed={"status_1": ["running", "crashed"]},
)
_END_RUN_ERROR_Q = Prepared(
    _END_RUN.values(
        status=bindparam("status"),
        ended_at=bindparam("ended_at"),
        heartbeat_at=bindparam("heartbeat_at"),
        error=bindparam("error"),
    ),
    "UPDATE runs SET status=?, ended_at=?, heartbeat_at=?, error=? WHERE runs.id = ? AND "
    "runs.status IN (__[POSTCOMPILE_status_1])",
    ("status", "ended_at", "heartbeat_at", "error", "rid", "status_1"),
    fixed={"status_1": ["running", "crashed"]},
)
# The run's end as Run.finish and recovery set it, by the columns ``final`` names.
_END_RUNS = {
    frozenset(("status", "ended_at")): _END_RUN_Q,
    frozenset(("status", "ended_at", "error")): _END_RUN_ERROR_Q,
}
_SUMMARIES_Q = Prepared(
    _SUMMARIES,
    "SELECT metric_summary.run_id, metric_summary.key_id, metric_summary.last, "
    "metric_summary.last_flag, metric_summary.last_step, metric_summary.min, "
    "metric_summary.max, metric_summary.count \nFROM metric_summary \nWHERE "
    "metric_summary.run_id = ? AND metric_summary.key_id IN (__[POSTCOMPILE_kids])",
    ("rid", "kids"),
)


def insert_run(
    conn: Connection,
    run_id: str,
    project_id: int,
    spec: dict[str, Any],
    now: float,
    final: dict[str, Any] | None = None,
) -> None:
    """Insert a run row with its first params and tags: ``running``, or ``final`` if given."""
    row = {
        "id": run_id,
        "project_id": project_id,
        "name": spec["name"],
        "status": "running",
        "created_at": spec.get("created_at", now),
        "heartbeat_at": now,
        **spec["attributes"],
        **(final or {}),
    }
    insert_rows(conn, runs, tuple(row), [tuple(row.values())])
    insert_rows(
        conn,
        params,
        ("run_id", "key", "value", "num"),
        [(run_id, k, v, n) for k, (v, n) in spec["params"].items()],
    )
    insert_rows(
        conn, tags, ("run_id", "key", "value"), [(run_id, k, v) for k, v in spec["tags"].items()]
    )


def aggregate_points(
    run_id: str, points: list[tuple[int, float, str, float]], key_ids: dict[str, int]
) -> tuple[list[tuple[Any, ...]], dict[int, list[Any]]]:
    """Metric rows for ``points``, and per key ``[last_step, last, min, max, count]``.

    ``last`` is the value at the highest step; min and max ignore NaN (None if all are NaN).
    """
    rows = []
    agg: dict[int, list[Any]] = {}
    for step, ts, key, value in points:
        kid = key_ids[key]
        v, flag = encode_value(value)
        rows.append((run_id, kid, step, v, flag, ts))
        a = agg.get(kid)
        if a is None:
            agg[kid] = a = [step, value, None, None, 0]
        elif step >= a[0]:
            a[0], a[1] = step, value
        if value == value:
            if a[2] is None or value < a[2]:
                a[2] = value
            if a[3] is None or value > a[3]:
                a[3] = value
        a[4] += 1
    return rows, agg


@dataclass
class RunContent:
    """What one transaction adds to one run: metric points, params, tags, artifact rows."""

    run_id: str
    points: list[Point] = field(default_factory=list)
    params: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    packed: PackedPoints | None = None  # more points, as columns (after ``points``)


def write_content(
    conn: Connection,
    contents: Sequence[RunContent],
    key_ids: dict[str, int],
    merge: bool,
    created: frozenset[str] = frozenset(),
) -> None:
    """Write runs' points (rows, per-bucket extremes, per-key summaries), params, tags and
    artifacts in bulk: the one path by which anything a run logged reaches the tables.

    ``merge`` folds the new points into the summaries and buckets already stored (a journal's
    later segment); without it they replace them (a run created in this transaction, or a
    sweep trial's attempt, whose series starts over). ``created`` names runs this transaction
    inserted: no other one can delete them before it commits, so they need no check.
    """
    _lock_runs(conn, {c.run_id for c in contents if c.points or c.packed} - created)
    point_rows: list[tuple[Any, ...]] = []
    bucket_rows: list[tuple[Any, ...]] = []
    summary_rows: list[tuple[Any, ...]] = []
    param_rows: list[tuple[Any, ...]] = []
    tag_rows: list[tuple[Any, ...]] = []
    artifact_rows: list[tuple[Any, ...]] = []
    # PostgreSQL: big batches go through COPY (tens of times faster than row inserts) with
    # their aggregates computed by numpy; SQLite keeps the row path, fastest there.
    copy = conn.dialect.name == "postgresql"
    if copy:  # numpy only here: a SQLite process (a training script) never pays its import
        from loopml.store._ingest_copy import (
            aggregate_columns,
            copy_points,
            packed_columns,
            point_columns,
        )
    for c in contents:
        points, columns = c.points, None
        if c.packed:
            if copy and not points and len(c.packed) >= _COPY_MIN_POINTS:
                columns = packed_columns(c.packed, key_ids)
            else:
                points = points + c.packed.to_points()
        elif copy and len(points) >= _COPY_MIN_POINTS:
            columns = point_columns(points, key_ids)
        if columns is not None:
            agg, buckets = aggregate_columns(columns)
            if not copy_points(conn, c.run_id, columns):
                point_rows += columns.rows(c.run_id)  # a step logged again: upsert instead
        elif points:
            rows, agg = aggregate_points(c.run_id, points, key_ids)
            point_rows += rows
            buckets = _bucket_points(points, key_ids)
        if columns is not None or points:
            if merge:
                _merge_buckets(conn, c.run_id, buckets)
                _merge_summaries(conn, c.run_id, agg)
            bucket_rows += [(c.run_id, kid, bucket, *b) for (kid, bucket), b in buckets.items()]
            for kid, (last_step, last, lo, hi, count) in agg.items():
                last_v, last_flag = encode_value(last)
                summary_rows.append((c.run_id, kid, last_v, last_flag, last_step, lo, hi, count))
        param_rows += [(c.run_id, k, v, n) for k, (v, n) in c.params.items()]
        tag_rows += [(c.run_id, k, v) for k, v in c.tags.items()]
        artifact_rows += [
            (c.run_id, a["name"], a["size"], a["sha256"], a["created_at"]) for a in c.artifacts
        ]
    bulk_upsert(conn, metrics, _METRIC_KEY, _METRIC_SET, _METRIC_COLUMNS, point_rows)
    bulk_upsert(conn, metric_buckets, _BUCKET_KEY, _BUCKET_SET, _BUCKET_COLUMNS, bucket_rows)
    bulk_upsert(conn, metric_summary, _SUMMARY_KEY, _SUMMARY_SET, _SUMMARY_COLUMNS, summary_rows)
    # A param is fixed once stored (the client refuses a change); a tag's new value replaces.
    bulk_upsert(
        conn, params, ["run_id", "key"], None, ("run_id", "key", "value", "num"), param_rows
    )
    bulk_upsert(conn, tags, ["run_id", "key"], ["value"], ("run_id", "key", "value"), tag_rows)
    bulk_upsert(
        conn,
        artifacts,
        ["run_id", "name"],
        ["size", "sha256", "created_at"],
        ("run_id", "name", "size", "sha256", "created_at"),
        artifact_rows,
    )


# Below this many points a batch's row inserts cost less than COPY's savepoint round trips.
_COPY_MIN_POINTS = 64
_METRIC_KEY = ["run_id", "key_id", "step"]
_METRIC_SET = ["value", "flag", "ts"]
_METRIC_COLUMNS = ("run_id", "key_id", "step", "value", "flag", "ts")
_SUMMARY_KEY = ["run_id", "key_id"]
_SUMMARY_SET = ["last", "last_flag", "last_step", "min", "max", "count"]
_SUMMARY_COLUMNS = ("run_id", "key_id", "last", "last_flag", "last_step", "min", "max", "count")
_BUCKET_KEY = ["run_id", "key_id", "bucket"]
_BUCKET_SET = ["count", "lo_step", "lo_value", "lo_ts", "hi_step", "hi_value", "hi_ts"]
_BUCKET_COLUMNS = ("run_id", "key_id", "bucket", *_BUCKET_SET)


def _lock_runs(conn: Connection, run_ids: set[str]) -> None:
    """Check the runs exist and hold them (``FOR KEY SHARE``) until commit: what a foreign key
    checked for each point, once per batch (``metrics`` has none, see ``_schema_runs``)."""
    if not run_ids:
        return
    found = set(_RUNS_EXIST_Q.run(conn, {"ids": sorted(run_ids)}).scalars())
    if len(found) < len(run_ids):
        missing = ", ".join(sorted(run_ids - found))
        raise NotFoundError(
            f"run {missing} was deleted while its points were written; nothing was stored"
        )


_RUNS_EXIST = select(runs.c.id).where(runs.c.id.in_(bindparam("ids", expanding=True)))
_RUNS_EXIST_LOCKED = _RUNS_EXIST.with_for_update(read=True, key_share=True)
_RUNS_EXIST_Q = Prepared(
    _RUNS_EXIST,
    "SELECT runs.id \nFROM runs \nWHERE runs.id IN (__[POSTCOMPILE_ids])",
    ("ids",),
    other=_RUNS_EXIST_LOCKED,
)


def _bucket_points(
    points: list[tuple[int, float, str, float]], key_ids: dict[str, int]
) -> dict[tuple[int, int], list[Any]]:
    """Per (key id, bucket): [count, lo_step, lo_value, lo_ts, hi_step, hi_value, hi_ts]."""
    out: dict[tuple[int, int], list[Any]] = {}
    for step, ts, key, value in points:
        b = out.get((key_ids[key], step // BUCKET_STEPS))
        if b is None:
            b = out[(key_ids[key], step // BUCKET_STEPS)] = [0, None, None, None, None, None, None]
        b[0] += 1
        if value == value:  # NaN takes no part in extremes
            if b[2] is None or value < b[2]:
                b[1], b[2], b[3] = step, value, ts
            if b[5] is None or value > b[5]:
                b[4], b[5], b[6] = step, value, ts
    return out


def _merge_buckets(conn: Connection, run_id: str, new: dict[tuple[int, int], list[Any]]) -> None:
    """Fold the stored extremes of the buckets that ``new`` touches into ``new``."""
    spans: dict[int, list[int]] = {}  # key id -> [lowest, highest] bucket
    for kid, bucket in new:
        span = spans.get(kid)
        if span is None:
            spans[kid] = [bucket, bucket]
        elif bucket < span[0]:
            span[0] = bucket
        elif bucket > span[1]:
            span[1] = bucket
    # One query for all the keys that share a span (usually all of a batch's keys: they were
    # logged at the same steps), rather than one per key; keys with other spans get their own,
    # so no key reads rows outside its own buckets' range.
    by_span: dict[tuple[int, int], list[int]] = {}
    for kid, (lo, hi) in spans.items():
        by_span.setdefault((lo, hi), []).append(kid)
    for (lo, hi), kids in by_span.items():
        for part in chunks(kids):
            rows = _BUCKETS_Q.run(conn, {"rid": run_id, "kids": part, "lo": lo, "hi": hi})
            _fold_buckets(new, rows)


def _fold_buckets(new: dict[tuple[int, int], list[Any]], rows: Any) -> None:
    """Fold stored bucket rows into ``new`` (only the buckets ``new`` has)."""
    for old in rows:
        b = new.get((old.key_id, old.bucket))
        if b is None:
            continue
        b[0] += old._mapping["count"]
        if old.lo_value is not None and (b[2] is None or old.lo_value < b[2]):
            b[1], b[2], b[3] = old.lo_step, old.lo_value, old.lo_ts
        if old.hi_value is not None and (b[5] is None or old.hi_value > b[5]):
            b[4], b[5], b[6] = old.hi_step, old.hi_value, old.hi_ts


def _merge_summaries(conn: Connection, run_id: str, agg: dict[int, list[Any]]) -> None:
    """Fold the stored per-key summaries into ``agg`` ([last_step, last, min, max, count])."""
    for part in chunks(list(agg)):
        for old in _SUMMARIES_Q.run(conn, {"rid": run_id, "kids": part}):
            a = agg[old.key_id]
            if old.last_step > a[0]:
                a[0], a[1] = old.last_step, decode_value(old.last, old.last_flag)
            a[2] = old.min if a[2] is None else (a[2] if old.min is None else min(a[2], old.min))
            a[3] = old.max if a[3] is None else (a[3] if old.max is None else max(a[3], old.max))
            a[4] += old._mapping["count"]  # Row.count is tuple.count
