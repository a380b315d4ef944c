"""Compute a catalog over windows of the log in ONE pass (one DuckDB query, GROUP BY window).

Every metric's aggregates are collected, identical ones shared (a PSI, a KS and a drift test of
one feature read the same CDF points), and handed to the store as one list; each metric then
finishes its value per window from its aggregates' values. Windows with no rows in the range are
reported as empty (``n`` = 0, values missing) rather than skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.monitoring._metrics import Metric, PythonMetric, RealizedAccuracy

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store import PredictionStore, SchemaChange

__all__ = ["WindowValues", "compute_windows", "parse_window"]

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_window(text: str | int) -> int:
    """Window length in seconds from ``60``, ``"60s"``, ``"5m"``, ``"1h"`` or ``"1d"``."""
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = text
    else:
        raw = str(text).strip().lower()
        num = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = raw[len(num) :] or "s"
        if not num or unit not in _UNITS:
            raise ValidationError(
                f"window {text!r} is not understood; write e.g. 60s, 5m, 1h or 1d"
            )
        seconds = int(float(num) * _UNITS[unit])
    if not 60 <= seconds <= 86_400 or 86_400 % seconds:
        raise ValidationError(
            f"window {text!r} must be between 1 minute and 1 day and divide a day evenly "
            "(e.g. 1m, 5m, 15m, 1h, 1d)"
        )
    return seconds


@dataclass
class WindowValues:
    """The result of one computation: values per (window, metric), empty windows, changes."""

    window_seconds: int
    frame: pd.DataFrame  # long: window_start, metric, value, n
    empty_windows: list[float] = field(default_factory=list)
    schema_changes: list[SchemaChange] = field(default_factory=list)
    n_aggregates: int = 0
    node: str = ""  # the Ray node that computed it (empty when computed here)

    def wide(self) -> pd.DataFrame:
        """Windows as rows, metrics as columns."""
        return self.frame.pivot(index="window_start", columns="metric", values="value")


def compute_windows(
    metrics: Sequence[Metric],
    reader: PredictionStore,
    source: str | Sequence[Any],
    window_seconds: int,
    since: float | None = None,
    until: float | None = None,
) -> WindowValues:
    """Every metric over each window of ``source`` (a model's log or Parquet files)."""
    import pandas as pd

    slots: dict[Any, int] = {}
    plan: list[tuple[Metric, list[int]]] = []
    for m in metrics:
        idx = []
        for agg in m.aggregates():
            if agg not in slots:
                slots[agg] = len(slots)
            idx.append(slots[agg])
        plan.append((m, idx))
    aggs = list(slots)
    frame, changes = reader.window_aggregates(source, window_seconds, aggs, since, until)
    starts = frame["window_start"].to_numpy(dtype=float).tolist()
    counts = frame["n"].to_numpy().astype(int).tolist()
    columns = [frame[f"a{i}"].to_numpy(dtype=float) for i in range(len(aggs))]
    empty: list[float] = []
    if since is not None and until is not None:
        first = math.floor(since / window_seconds) * window_seconds
        have = set(starts)
        w = first
        while w < until:
            if w not in have:
                empty.append(w)
            w += window_seconds
    out_w: list[float] = []
    out_m: list[str] = []
    out_v: list[float] = []
    out_n: list[int] = []
    python_metrics = [m for m in metrics if isinstance(m, PythonMetric)]
    for row, (start, n) in enumerate(zip(starts, counts, strict=True)):
        for m, idx in plan:
            if isinstance(m, (PythonMetric, RealizedAccuracy)):
                continue
            vals = [float(columns[i][row]) for i in idx]
            try:
                value = m.finish(vals, n, window_seconds)
            except (ValueError, ZeroDivisionError, KeyError, IndexError):
                value = float("nan")  # a metric never breaks the pass; the value is missing
            out_w.append(start)
            out_m.append(m.name)
            out_v.append(value)
            out_n.append(n)
    for start in empty:
        for m, _ in plan:
            if isinstance(m, RealizedAccuracy):
                continue
            out_w.append(start)
            out_m.append(m.name)
            out_v.append(0.0 if m.kind in ("rows", "qps") else float("nan"))
            out_n.append(0)
    if python_metrics and isinstance(source, str):
        for start in starts:
            rows = reader.rows(source, start, start + window_seconds)
            for m in python_metrics:
                try:
                    value = float(m.function()(rows))
                except Exception:  # a user's function failing must not stop the others
                    value = float("nan")
                out_w.append(start)
                out_m.append(m.name)
                out_v.append(value)
                out_n.append(len(rows))
    accuracy = [m for m in metrics if isinstance(m, RealizedAccuracy)]
    if accuracy and isinstance(source, str):
        acc = reader.feedback_accuracy(source, window_seconds, since, until)
        for m in accuracy:
            for start, labeled, value in acc[["window_start", "labeled", "accuracy"]].itertuples(
                index=False
            ):
                out_w.append(float(start))
                out_m.append(m.name)
                out_v.append(float(value))
                out_n.append(int(labeled))
    long = pd.DataFrame({"window_start": out_w, "metric": out_m, "value": out_v, "n": out_n})
    return WindowValues(window_seconds, long, sorted(empty), changes, len(aggs))
