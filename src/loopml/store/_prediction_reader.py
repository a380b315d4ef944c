"""Read side of the prediction log (Parquet, Hive-partitioned by date and hour), with DuckDB.

The layout is the serving capability's contract: ``<data_dir>/predictions/<model>/date=YYYY-MM-DD/
hour=HH/<part>.parquet`` plus ``feedback/date=YYYY-MM-DD/<part>.parquet``. This module lists the
files of a time range, reports schema changes over history, and computes many aggregates per
window in ONE query (``window_aggregates``): the monitors' one-pass computation. Aggregates are
declared as :class:`Aggregate` values and compiled here, with every constant a bound parameter
and every column name quoted, so no SQL is built from user text (except an explicit custom
``sql`` aggregate, which is the user's own expression over their own log).

``write_part``/``write_feedback`` write the same layout; they exist for simulations and tests
until the serving capability's writer (``store/_predictions.py``) is merged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from loopml.store._store import Store

__all__ = ["Aggregate", "PredictionLogReader", "SchemaChange"]

_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
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


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A column that appeared or disappeared in the log's history."""

    column: str
    change: str  # added, removed
    first_file: str  # the first file (in time order) showing the change


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _epoch(value: float | dt.datetime | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    return float(value)


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


class PredictionLogReader:
    """Files, schema and windowed aggregates of one store's prediction logs.

    ``store`` may be None for a reader that only computes over files it is given (a Ray task).
    """

    def __init__(self, store: Store | None) -> None:
        self._store = store

    def root(self, model: str) -> Path:
        """The folder of ``model``'s log."""
        if not isinstance(model, str) or not _MODEL.match(model):
            raise ValidationError(
                f"model name {model!r} is not allowed; use letters, digits, '.', '_' or '-'"
            )
        if self._store is None:
            raise ValidationError("this reader has no store; give it Parquet files instead")
        return self._store.data_dir / "predictions" / model

    def models(self) -> list[str]:
        """Models that have a prediction log."""
        if self._store is None:
            return []
        base = self._store.data_dir / "predictions"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.exists() else []

    def files(
        self,
        model: str,
        since: float | dt.datetime | None = None,
        until: float | dt.datetime | None = None,
    ) -> list[Path]:
        """Complete part files whose hour overlaps [since, until), oldest first."""
        root = self.root(model)
        lo, hi = _epoch(since), _epoch(until)
        out: list[tuple[float, Path]] = []
        if not root.exists():
            return []
        for day in root.glob("date=*"):
            for hour in day.glob("hour=*"):
                try:
                    start = dt.datetime.strptime(
                        f"{day.name[5:]} {hour.name[5:]}", "%Y-%m-%d %H"
                    ).replace(tzinfo=dt.UTC)
                except ValueError:
                    continue  # not a partition folder of the contract
                t0 = start.timestamp()
                if (hi is not None and t0 >= hi) or (lo is not None and t0 + 3600 <= lo):
                    continue
                out.extend((t0, p) for p in sorted(hour.glob("*.parquet")))
        return [p for _, p in sorted(out, key=lambda x: (x[0], x[1].name))]

    def feedback_files(self, model: str) -> list[Path]:
        """Complete feedback part files of ``model``."""
        return sorted((self.root(model) / "feedback").glob("date=*/*.parquet"))

    def classes(self, model: str) -> list[str]:
        """The model's class list from the newest file's ``loopml.classes`` metadata."""
        import pyarrow.parquet as pq

        for path in reversed(self.files(model)):
            meta = pq.read_schema(path).metadata or {}
            raw = meta.get(b"loopml.classes")
            if raw:
                return [str(c) for c in json.loads(raw)]
        return []

    def columns(self, files: Sequence[Path]) -> tuple[dict[str, str], list[SchemaChange]]:
        """The union of columns (name -> Arrow type text) and the changes along ``files``."""
        import pyarrow.parquet as pq

        union: dict[str, str] = {}
        changes: list[SchemaChange] = []
        previous: set[str] | None = None
        for path in files:
            schema = pq.read_schema(path)
            names = set(schema.names)
            for field in schema:
                union.setdefault(field.name, str(field.type))
            if previous is not None:
                changes += [SchemaChange(c, "added", path.name) for c in sorted(names - previous)]
                changes += [SchemaChange(c, "removed", path.name) for c in sorted(previous - names)]
            previous = names
        return union, changes

    # --- queries ---------------------------------------------------------------------------

    def _source(self, files: Sequence[Path]) -> str:
        # File paths are ours (listed from the data folder), passed as a bound list parameter.
        return "read_parquet($files, union_by_name=true, hive_partitioning=true)"

    def window_aggregates(
        self,
        source: str | Sequence[Path],
        window_seconds: int,
        aggregates: Sequence[Aggregate],
        since: float | dt.datetime | None = None,
        until: float | dt.datetime | None = None,
    ) -> tuple[pd.DataFrame, list[SchemaChange]]:
        """Every aggregate over each window of the log, in one DuckDB query (GROUP BY window).

        ``source``: a model name or a list of Parquet files. Returns a frame with
        ``window_start`` (epoch seconds), ``n`` (rows) and one column ``a<i>`` per aggregate
        (NaN where a window had nothing to aggregate), plus the schema changes seen.
        """
        import duckdb
        import pandas as pd

        if not isinstance(window_seconds, int) or not 60 <= window_seconds <= 86_400:
            raise ValidationError(
                f"window must be between 60 s and 1 day, got {window_seconds!r} s"
            )
        lo, hi = _epoch(since), _epoch(until)
        files = self.files(source, lo, hi) if isinstance(source, str) else list(source)
        columns: list[str] = ["window_start", "n"] + [f"a{i}" for i in range(len(aggregates))]
        if not files:
            return pd.DataFrame({c: [] for c in columns}), []
        present, changes = self.columns(files)
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
            exprs.append(self._compile(agg, i, present, params))
        select += [f"{e} AS a{i}" for i, e in enumerate(exprs) if e is not None]
        where = []
        if lo is not None:
            params["lo"] = lo
            where.append('"time" >= to_timestamp($lo)')
        if hi is not None:
            params["hi"] = hi
            where.append('"time" < to_timestamp($hi)')
        sql = (
            f"SELECT {', '.join(select)} FROM {self._source(files)}"
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

    @staticmethod
    def _compile(
        agg: Aggregate, i: int, present: dict[str, str], params: dict[str, Any]
    ) -> str | None:
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
            return (
                f"avg(CASE WHEN {col} IS NULL THEN NULL WHEN {col} >= ${p} THEN 1.0 ELSE 0.0 END)"
            )
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

    def rows(
        self,
        model: str,
        since: float | dt.datetime,
        until: float | dt.datetime,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The log's rows in [since, until) as a DataFrame (all columns, or ``columns``)."""
        import duckdb

        lo, hi = _epoch(since), _epoch(until)
        files = self.files(model, lo, hi)
        if not files:
            import pandas as pd

            return pd.DataFrame()
        present, _ = self.columns(files)
        cols = [c for c in (columns or list(present)) if c in present]
        if not cols:
            raise NotFoundError(f"none of the columns {list(columns or [])} is in {model}'s log")
        params: dict[str, Any] = {"files": [str(p) for p in files], "lo": lo, "hi": hi}
        sql = (
            f"SELECT {', '.join(_quote(c) for c in cols)} FROM {self._source(files)} "
            'WHERE "time" >= to_timestamp($lo) AND "time" < to_timestamp($hi)'
        )
        if limit is not None:
            params["limit"] = int(limit)
            sql += " LIMIT $limit"
        con = duckdb.connect()
        try:
            return con.execute(sql, params).df()
        finally:
            con.close()

    def feedback_accuracy(
        self,
        model: str,
        window_seconds: int,
        since: float | None = None,
        until: float | None = None,
    ) -> pd.DataFrame:
        """Realized accuracy per window (by prediction time) once feedback has landed.

        Columns: ``window_start``, ``labeled`` (predictions with feedback), ``accuracy``.
        """
        import duckdb
        import pandas as pd

        files = self.files(model, since, until)
        feedback = self.feedback_files(model)
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
            f"AS accuracy FROM {self._source(files)} p JOIN fb ON p.id = fb.id "
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

    def write_part(self, model: str, table: pa.Table, classes: Sequence[str] = ()) -> list[Path]:
        """Write ``table`` (the log's columns) into its hourly partitions; returns the files.

        Each part is written to a hidden temporary name and renamed into place, so readers
        (which glob ``*.parquet``) never see half a file.
        """
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        root = self.root(model)
        if "time" not in table.column_names:
            raise ValidationError("a prediction log table needs a 'time' column (UTC timestamps)")
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"loopml.classes": json.dumps(list(classes))}
        )
        hours = pc.floor_temporal(table["time"], unit="hour")
        out: list[Path] = []
        for hour in pc.unique(hours).to_pylist():
            part = table.filter(pc.equal(hours, pa.scalar(hour, type=hours.type)))
            when = hour.astimezone(dt.UTC)
            folder = root / f"date={when:%Y-%m-%d}" / f"hour={when:%H}"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{uuid.uuid4().hex}.parquet"
            tmp = folder / f".{name}.tmp"
            pq.write_table(part, tmp, compression="zstd")
            os.replace(tmp, folder / name)
            out.append(folder / name)
        return out

    def write_feedback(self, model: str, table: pa.Table) -> Path:
        """Write one feedback part (``id``, ``time``, ``truth``) under its first row's date."""
        import pyarrow.parquet as pq

        if table.num_rows == 0:
            raise ValidationError("feedback table is empty")
        first = table["time"][0].as_py().astimezone(dt.UTC)
        folder = self.root(model) / "feedback" / f"date={first:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.parquet"
        tmp = folder / f".{name}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, folder / name)
        return folder / name
