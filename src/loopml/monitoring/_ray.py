"""Backfill a long history as Ray tasks, one per day of windows, on a Ray cluster.

Each task gets the metric specs and the day's Parquet files (the data folder must be visible to
the workers at the same path: a shared file system, or one machine), computes the day's windows
in one DuckDB pass, and returns the values; the driver writes them to the store (only the
driver's process talks to the metadata database). Realized accuracy needs the feedback join over
the whole history, so the driver computes it itself after the tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import MissingDependencyError
from loopml.monitoring._compute import WindowValues, compute_windows
from loopml.monitoring._metrics import Metric, PythonMetric, RealizedAccuracy, make_metric

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = ["backfill_on_ray", "compute_day"]

_DAY = 86_400


def compute_day(
    specs: Sequence[tuple[str, str, dict[str, Any]]],
    files: Sequence[str],
    window_seconds: int,
    lo: float,
    hi: float,
) -> tuple[WindowValues, str]:
    """One task: the windows of [lo, hi) over ``files``; returns the values and the node."""
    import socket
    from pathlib import Path

    from loopml.store import PredictionStore

    metrics = [make_metric(kind, name, spec) for kind, name, spec in specs]
    reader = PredictionStore(None)  # given files, the reader needs no store
    values = compute_windows(metrics, reader, [Path(f) for f in files], window_seconds, lo, hi)
    import ray

    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else socket.gethostname()
    return values, node


def backfill_on_ray(
    address: str,
    store: Store,
    model: str,
    metrics: Sequence[Metric],
    window_seconds: int,
    lo: float,
    hi: float,
    progress: Callable[[int, int], None] | None = None,
) -> list[WindowValues]:
    """Compute [lo, hi) as one Ray task per day; returns each day's values (plus accuracy)."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "backfill on Ray needs ray: pip install 'loopml[ray]'"
        ) from None
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    in_pass = [m for m in metrics if not isinstance(m, (RealizedAccuracy, PythonMetric))]
    specs = [(m.kind, m.name, m.spec()) for m in in_pass]
    reader = store.predictions
    task = ray.remote(num_cpus=1, max_retries=2)(compute_day)
    futures = []
    start = math.floor(lo / _DAY) * _DAY
    day = start
    while day < hi:
        d_lo, d_hi = max(lo, day), min(hi, day + _DAY)
        files = [str(p) for p in reader.files(model, d_lo, d_hi)]
        futures.append((d_lo, d_hi, task.remote(specs, files, window_seconds, d_lo, d_hi)))
        day += _DAY
    out: list[WindowValues] = []
    for i, (_, _, fut) in enumerate(futures):
        values, node = ray.get(fut)
        values.node = node
        out.append(values)
        if progress is not None:
            progress(i + 1, len(futures))
    rest = [m for m in metrics if isinstance(m, (RealizedAccuracy, PythonMetric))]
    if rest:
        extra = compute_windows(rest, reader, model, window_seconds, lo, hi)
        extra.empty_windows = []  # the day tasks reported those already
        out.append(extra)
    return out
