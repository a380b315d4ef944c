"""The monitors' one-pass read of the prediction log: many aggregates per window in ONE query.

The log's files come from ``store.predictions`` (``_predictions.py``, the format's owner); this
module compiles declared :class:`Aggregate` values into one DuckDB ``GROUP BY window`` query over
them, with every constant a bound parameter and every column name quoted, so no SQL is built from
user text (except an explicit custom ``sql`` aggregate, which is the user's own expression over
their own log).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.store._duck import quote_ident as _quote

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store._predictions import PredictionStore, SchemaChange

__all__ = ["Aggregate", "feedback_accuracy", "window_aggregates"]

_SOURCE = "read_parquet($files, union_by_name=true, hive_partitioning=true)"

_OPS = {
    "count",
    "count_distinct",
    "avg",
    "stddev",
    "min",
    "max",
    "quantile",
    "null_rate",
    "share_le",
    "share_ge",
    "share_outside",
    "share_eq",
    "share_not_in",
    "list_entropy",
    "avg_where",
    "sql",
}


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One per-window aggregate over a column of the log.

    ``op``: count, count_distinct, avg, stddev, min, max, quantile (arg: q), null_rate,
    share_le / share_ge (arg: a number; share of non-missing values), share_outside (arg: (lo,
    hi)), share_eq (arg: a category), share_not_in (arg: tuple of categories), list_entropy
    (mean entropy of a list column of probabilities), avg_where (arg: (column, value): the mean
    of ``column`` over rows where the arg's column equals value, a segment), sql (arg: an
    aggregate SQL expression).
    """

    op: str
    column: str | None = None
    arg: Any = None


def _item(values: Any, k: int) -> float:
    """``values[k]`` of a list result, NaN for NULL (pandas gives NA) or a short list."""
    try:
        v = values[k]
    except (TypeError, IndexError, KeyError):
        return float("nan")
    return float("nan") if v is None else float(v)


def _parse_histogram(histogram: Any) -> tuple[list[float], list[int], int] | None:
    """(bucket upper bounds ascending, cumulative counts, total) of a DuckDB histogram."""
    if isinstance(histogram, dict) and "key" in histogram:
        items = list(zip(histogram["key"], histogram["value"], strict=True))
    elif isinstance(histogram, dict):
        items = list(histogram.items())
    elif isinstance(histogram, (list, tuple)):
        items = list(histogram)
    else:
        return None  # NULL: the window had no value for the column
    items.sort(key=lambda kv: float(kv[0]))
    bounds, cum, total = [], [], 0
    for b, c in items:
        total += int(c)
        bounds.append(float(b))
        cum.append(total)
    return (bounds, cum, total) if total else None


def _share_le(parsed: tuple[list[float], list[int], int] | None, edge: float) -> float:
    """Share of counted values <= ``edge`` (``edge`` is one of the histogram's bounds)."""
    import bisect

    if parsed is None:
        return float("nan")
    bounds, cum, total = parsed
    i = bisect.bisect_right(bounds, edge)
    return cum[i - 1] / total if i else 0.0


def window_aggregates(
    log: PredictionStore,
    files: Sequence[Path],
    window_seconds: int,
    aggregates: Sequence[Aggregate],
    lo: float | None = None,
    hi: float | None = None,
) -> tuple[pd.DataFrame, list[SchemaChange]]:
    """Every aggregate over each window of ``files`` in [lo, hi), in one DuckDB query (GROUP BY
    window). Returns a frame with ``window_start`` (epoch seconds), ``n`` (rows) and one column
    ``a<i>`` per aggregate (NaN where a window had nothing to aggregate), plus the schema changes
    seen along the files (``log`` reads their schemas).
    """
    import duckdb
    import pandas as pd

    if not isinstance(window_seconds, int) or not 60 <= window_seconds <= 86_400:
        raise ValidationError(f"window must be between 60 s and 1 day, got {window_seconds!r} s")
    files = list(files)
    columns: list[str] = ["window_start", "n"] + [f"a{i}" for i in range(len(aggregates))]
    if not files:
        return pd.DataFrame({c: [] for c in columns}), []
    present, changes = log.columns(files)
    params: dict[str, Any] = {"files": [str(p) for p in files], "w": float(window_seconds)}
    exprs: list[str | None] = []
    quantiles: dict[str, list[float]] = {}
    # All "share <= edge" of one column come from ONE histogram over its edges (a binary
    # search per value), which costs a twentieth of one CASE aggregate per edge.
    edges: dict[str, set[float]] = {}
    for agg in aggregates:
        if agg.op == "quantile" and agg.column in present:
            qs = quantiles.setdefault(agg.column, [])
            if float(agg.arg) not in qs:
                qs.append(float(agg.arg))
        if agg.op == "share_le" and agg.column in present:
            edges.setdefault(agg.column, set()).add(float(agg.arg))
    select = [
        'floor(epoch("time") / $w) * $w AS window_start',
        "count(*) AS n",
    ]
    qcols: dict[str, str] = {}
    for i, (col, qs) in enumerate(quantiles.items()):
        params[f"q{i}"] = qs
        qcols[col] = f"q{i}"
        select.append(f"quantile_cont({_quote(col)}, $q{i}) AS q{i}")
    hcols: dict[str, str] = {}
    for i, (col, es) in enumerate(edges.items()):
        params[f"h{i}"] = sorted(es)
        hcols[col] = f"h{i}"
        select.append(f"histogram({_quote(col)}::DOUBLE, $h{i}::DOUBLE[]) AS h{i}")
    for i, agg in enumerate(aggregates):
        exprs.append(_compile(agg, i, present, params))
    select += [f"{e} AS a{i}" for i, e in enumerate(exprs) if e is not None]
    where = []
    if lo is not None:
        params["lo"] = lo
        where.append('"time" >= to_timestamp($lo)')
    if hi is not None:
        params["hi"] = hi
        where.append('"time" < to_timestamp($hi)')
    sql = (
        f"SELECT {', '.join(select)} FROM {_SOURCE}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " GROUP BY 1 ORDER BY 1"
    )
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order=false")
        con.execute("SET enable_progress_bar=false")
        frame = con.execute(sql, params).df()
    except duckdb.Error as exc:
        raise ValidationError(f"computing the window metrics failed: {exc}") from None
    finally:
        con.close()
    out: dict[str, Any] = {
        "window_start": frame["window_start"].astype(float),
        "n": frame["n"],
    }
    hparsed: dict[str, list[Any]] = {}
    for i, agg in enumerate(aggregates):
        if agg.op == "quantile" and agg.column in qcols:
            qs = quantiles[agg.column]
            k = qs.index(float(agg.arg))
            out[f"a{i}"] = frame[qcols[agg.column]].map(lambda v, k=k: _item(v, k))
        elif agg.op == "share_le" and agg.column in hcols:
            parsed = hparsed.setdefault(
                agg.column, [_parse_histogram(h) for h in frame[hcols[agg.column]]]
            )
            out[f"a{i}"] = [_share_le(h, float(agg.arg)) for h in parsed]
        elif f"a{i}" in frame:
            out[f"a{i}"] = pd.to_numeric(frame[f"a{i}"], errors="coerce").astype(float)
        else:
            out[f"a{i}"] = float("nan")
    return pd.DataFrame(out), changes


def _compile(agg: Aggregate, i: int, present: dict[str, str], params: dict[str, Any]) -> str | None:
    """SQL for one aggregate (None when computed elsewhere or its column is absent)."""
    if agg.op not in _OPS:
        raise ValidationError(f"unknown aggregate {agg.op!r}; one of {sorted(_OPS)}")
    if agg.op == "count":
        return "count(*)"
    if agg.op == "sql":
        return f"({agg.arg})"
    if agg.column not in present:
        return None  # the column never appears in this range: the value is missing
    col = _quote(agg.column)
    p = f"p{i}"
    if agg.op in ("quantile", "share_le"):
        return None  # grouped per column: quantile_cont / histogram
    if agg.op == "count_distinct":
        return f"approx_count_distinct({col})"
    if agg.op == "avg":
        return f"avg({col}::DOUBLE)"
    if agg.op == "stddev":
        return f"stddev_samp({col}::DOUBLE)"
    if agg.op in ("min", "max"):
        return f"{agg.op}({col}::DOUBLE)"
    if agg.op == "null_rate":
        return f"avg(CASE WHEN {col} IS NULL THEN 1.0 ELSE 0.0 END)"
    if agg.op == "list_entropy":
        return (
            f"avg(list_sum(list_transform({col}, lambda x: "
            "CASE WHEN x > 0 THEN -x * ln(x) ELSE 0.0 END)))"
        )
    if agg.op == "share_ge":
        params[p] = float(agg.arg)
        return f"avg(CASE WHEN {col} IS NULL THEN NULL WHEN {col} >= ${p} THEN 1.0 ELSE 0.0 END)"
    if agg.op == "share_outside":
        params[p + "a"], params[p + "b"] = float(agg.arg[0]), float(agg.arg[1])
        return (
            f"avg(CASE WHEN {col} IS NULL THEN NULL WHEN {col} < ${p}a OR {col} > ${p}b "
            "THEN 1.0 ELSE 0.0 END)"
        )
    if agg.op == "share_eq":
        params[p] = str(agg.arg)
        return (
            f"avg(CASE WHEN {col} IS NULL THEN NULL WHEN {col}::VARCHAR = ${p} "
            "THEN 1.0 ELSE 0.0 END)"
        )
    if agg.op == "avg_where":
        seg, value = agg.arg
        if seg not in present:
            return None
        params[p] = str(value)
        return f"avg(CASE WHEN {_quote(seg)}::VARCHAR = ${p} THEN {col}::DOUBLE END)"
    # share_not_in
    params[p] = [str(v) for v in agg.arg]
    return (
        f"avg(CASE WHEN {col} IS NULL THEN NULL WHEN list_contains(${p}, {col}::VARCHAR) "
        "THEN 0.0 ELSE 1.0 END)"
    )


def feedback_accuracy(
    files: Sequence[Path], feedback: Sequence[Path], window_seconds: int
) -> pd.DataFrame:
    """Realized accuracy per window (by prediction time) of the predictions in ``files`` that
    have a row in ``feedback``: ``window_start``, ``labeled``, ``accuracy``."""
    import duckdb
    import pandas as pd

    if not files or not feedback:
        return pd.DataFrame({"window_start": [], "labeled": [], "accuracy": []})
    params: dict[str, Any] = {
        "files": [str(p) for p in files],
        "fb": [str(p) for p in feedback],
        "w": float(window_seconds),
    }
    sql = (
        "WITH fb AS (SELECT id, any_value(truth) AS truth FROM "
        "read_parquet($fb, union_by_name=true, hive_partitioning=false) GROUP BY id) "
        'SELECT floor(epoch(p."time") / $w) * $w AS window_start, count(*) AS labeled, '
        "avg(CASE WHEN p.prediction::VARCHAR = fb.truth::VARCHAR THEN 1.0 ELSE 0.0 END) "
        f"AS accuracy FROM {_SOURCE} p JOIN fb ON p.id = fb.id "
        "WHERE p.status < 400 GROUP BY 1 ORDER BY 1"
    )
    con = duckdb.connect()
    try:
        frame = con.execute(sql, params).df()
    finally:
        con.close()
    frame["window_start"] = frame["window_start"].astype(float)
    return frame


# --- writing the contract's layout (simulations and tests) ------------------------------
