"""Slices: predicates in the filter language, automatic bins of numeric columns, per-slice metrics.

A *feature* is a column to slice on: its distinct values when it has few (text, true/false, small
integers), else quantile bins. Each value or bin is one *predicate*, rendered in the filter
language (``c1 = 2``, ``brightness >= 0.25 and brightness < 0.5``) so that any slice a tool shows
can be pasted back into ``Evaluation.slice``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.store import GroupKey

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store import EvaluationRecord, EvaluationRows, Store

__all__ = [
    "SKIP_COLUMNS",
    "Predicate",
    "SliceResult",
    "conjunction",
    "features",
    "predicates_of",
    "render_column",
]

# Columns of an evaluation's rows that are results, not properties of the example.
SKIP_COLUMNS = ("id", "prediction", "correct", "confidence", "loss", "error", "probabilities")
MAX_LEVELS = 20
N_BINS = 4
_BARE = re.compile(r"^[A-Za-z_]\w*(?:\.[\w\-:/]+)*$")
_KEYWORDS = {"and", "or", "not", "in", "like", "nan", "inf", "infinity", "true", "false"}


def render_column(name: str) -> str:
    """A column name as the filter language reads it (backticks when needed)."""
    if _BARE.match(name) and name.lower() not in _KEYWORDS:
        return name
    return f"`{name}`"


def render_value(value: Any) -> str:
    """A literal in the filter language."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(value, ".6g")
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class Predicate:
    """One predicate of a slice: a column equal to a value, or inside bin ``value`` of ``key``."""

    key: GroupKey
    value: Any

    @property
    def column(self) -> str:
        """The column the predicate reads."""
        return self.key.column

    def __str__(self) -> str:
        col = render_column(self.key.column)
        if not self.key.edges:
            return f"{col} = {render_value(self.value)}"
        edges, i = self.key.edges, int(self.value)
        if i == 0:
            return f"{col} < {render_value(edges[0])}"
        if i >= len(edges):
            return f"{col} >= {render_value(edges[-1])}"
        return f"{col} >= {render_value(edges[i - 1])} and {col} < {render_value(edges[i])}"


def conjunction(preds: tuple[Predicate, ...]) -> str:
    """A slice's predicates joined with ``and``, in column order."""
    return " and ".join(str(p) for p in sorted(preds, key=lambda p: p.column))


def features(
    rec: EvaluationRecord,
    rows: EvaluationRows,
    columns: list[str] | None = None,
    bins: int = N_BINS,
) -> list[GroupKey]:
    """The columns to slice on: few distinct values as they are, other numbers in quantile bins."""
    names = (
        columns
        if columns is not None
        else [c for c in rec.columns if c not in SKIP_COLUMNS and rec.columns[c] != "LIST"]
    )
    if rec.task == "regression" and columns is None:
        names = [c for c in names if c != "truth"]
    distinct = rows.distinct_counts(names)
    keys = []
    for name in names:
        kind = rec.columns[name]
        if distinct[name] <= MAX_LEVELS or kind in ("VARCHAR", "BOOLEAN"):
            if distinct[name] <= MAX_LEVELS:
                keys.append(GroupKey(name))
            continue
        qs = [i / bins for i in range(1, bins)]
        edges = sorted({float(format(e, ".6g")) for e in rows.quantiles(name, qs)})
        if edges:
            keys.append(GroupKey(name, tuple(edges)))
    return keys


def predicates_of(key: GroupKey, values: list[Any]) -> list[Predicate]:
    """Predicates for the non-null values (or bin numbers) a key took."""
    return [Predicate(key, _plain(v)) for v in values if v is not None]


def _plain(v: Any) -> Any:
    # numpy scalars and Arrow values as Python ones, so they render and bind as expected.
    if hasattr(v, "item"):
        return v.item()
    return v


@dataclass(frozen=True, slots=True)
class SliceResult:
    """A slice's size and metric with its interval; ``empty`` (and metric None) with no rows."""

    predicate: str
    size: int
    errors: int | None
    error_rate: float | None
    metric: str
    value: float | None
    low: float | None
    high: float | None
    share: float  # of all the evaluation's rows

    @property
    def empty(self) -> bool:
        """Whether no example matches the predicate."""
        return self.size == 0

    def to_dict(self) -> dict[str, Any]:
        """The result as a plain dict (for a DataFrame row or JSON)."""
        return {
            "slice": self.predicate,
            "size": self.size,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "metric": self.metric,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "share": self.share,
        }


def slice_result(
    rec: EvaluationRecord, store: Store, predicate: str, counts: dict[str, Any], seed: int = 0
) -> SliceResult:
    """A ``SliceResult`` from a slice's grouped counts (accuracy or RMSE with a bootstrap interval)."""
    import numpy as np

    from loopml.analysis._metrics import N_BOOT

    n = int(counts["n"] or 0)
    share = n / rec.n_rows if rec.n_rows else 0.0
    metric = "accuracy" if rec.task == "classification" else "rmse"
    if n == 0:
        return SliceResult(predicate, 0, None, None, metric, None, None, None, 0.0)
    rng = np.random.default_rng(seed)
    if rec.task == "classification":
        errors = int(counts["errors"])
        acc = 1 - errors / n
        # Resampling the slice's rows = drawing its number correct from a binomial.
        draws = rng.binomial(n, acc, N_BOOT) / n
        lo, hi = np.quantile(draws, [0.025, 0.975])
        return SliceResult(
            predicate, n, errors, errors / n, metric, acc, float(lo), float(hi), share
        )
    err = store.evaluations.read_rows(rec.id, predicate, columns=["error"])["error"].to_numpy()
    rmse = float(np.sqrt((err**2).mean()))
    idx = rng.integers(0, n, size=(N_BOOT, min(n, 10_000)))
    scale = np.sqrt(min(n, 10_000) / n)
    d = np.sqrt((err[idx] ** 2).mean(1))
    lo, hi = np.quantile(d - d.mean(), [0.025, 0.975])
    return SliceResult(
        predicate, n, None, None, metric, rmse, rmse + scale * lo, rmse + scale * hi, share
    )


def auto_slices(rec: EvaluationRecord, store: Store, bins: int = N_BINS) -> pd.DataFrame:
    """Every single-predicate slice (each value, each numeric bin), with size, metric, interval."""
    import pandas as pd

    with store.evaluations.rows(rec.id) as rows:
        keys = features(rec, rows, bins=bins)
        tables = rows.grouped_counts([[k] for k in keys])
    out: list[dict[str, Any]] = []
    for key, table in zip(keys, tables, strict=True):
        for r in table.to_pylist():
            if r["k0"] is None:
                continue
            pred = str(Predicate(key, _plain(r["k0"])))
            out.append(slice_result(rec, store, pred, r).to_dict() | {"column": key.column})
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    return frame.sort_values(["column", "slice"]).reset_index(drop=True)
