"""What the monitoring pages and the Prometheus export show, computed here (not in server/).

- ``sparklines``: every active metric's recent values, sorted by how anomalous the latest window
  is (its distance from the trailing mean in trailing standard deviations).
- ``drift_heatmap``: feature x window drift scores (-log10 of the guarded p-value, capped).
- ``register_prometheus``: a collector that exposes the latest value of every active metric.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import MissingDependencyError, NotFoundError
from loopml.monitoring._monitor import _store, _window, catalog

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = [
    "DriftHeatmap",
    "Sparkline",
    "drift_heatmap",
    "estimate_vs_realized",
    "register_prometheus",
    "sparklines",
]

_SCORE_CAP = 10.0


@dataclass(frozen=True, slots=True)
class Sparkline:
    """One metric's recent values and how anomalous its latest value is."""

    metric: str
    group: str
    kind: str
    starts: list[float]
    values: list[float | None]
    latest: float | None
    anomaly: float


@dataclass(frozen=True, slots=True)
class DriftHeatmap:
    """Drift scores: ``scores[i][j]`` for feature ``features[i]`` at window ``starts[j]``."""

    features: list[str]
    starts: list[float]
    scores: list[list[float | None]]


def _anomaly(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    if len(clean) < 4 or math.isnan(values[-1]):
        return 0.0
    prior = clean[:-1]
    mean = sum(prior) / len(prior)
    sd = math.sqrt(sum((v - mean) ** 2 for v in prior) / (len(prior) - 1))
    diff = abs(values[-1] - mean)
    if sd == 0:
        return 0.0 if diff == 0 else _SCORE_CAP * 10
    return diff / sd


def sparklines(model: str, *, last: int = 48, store: Store | None = None) -> list[Sparkline]:
    """Every active metric over the last ``last`` windows, most anomalous first."""
    store = _store(store)
    seconds = _window(store, model)
    metrics = catalog(model, store=store)
    end = store.monitors.last_window(model, seconds)
    if end is None:
        return []
    long = store.monitors.values(model, seconds, None, end - (last - 1) * seconds, end + 1)
    wide = long.pivot(index="window_start", columns="metric", values="value").sort_index()
    starts = [float(s) for s in wide.index]
    out = []
    for m in metrics:
        if m.name not in wide:
            continue
        vals = [float(v) for v in wide[m.name].to_numpy(dtype=float)]
        out.append(
            Sparkline(
                m.name,
                m.group,
                m.kind,
                starts,
                [None if math.isnan(v) else v for v in vals],
                None if math.isnan(vals[-1]) else vals[-1],
                _anomaly(vals),
            )
        )
    return sorted(out, key=lambda s: (-s.anomaly, s.metric))


def drift_heatmap(model: str, *, last: int = 72, store: Store | None = None) -> DriftHeatmap:
    """-log10(p) of each drift metric (features and predictions) over the last windows."""
    store = _store(store)
    seconds = _window(store, model)
    names = [
        m.name
        for m in catalog(model, store=store)
        if m.kind in ("feature_drift", "prediction_drift")
    ]
    end = store.monitors.last_window(model, seconds)
    if end is None or not names:
        return DriftHeatmap([], [], [])
    long = store.monitors.values(model, seconds, names, end - (last - 1) * seconds, end + 1)
    wide = long.pivot(index="window_start", columns="metric", values="value").sort_index()
    features = sorted(wide.columns)
    scores: list[list[float | None]] = []
    for f in features:
        row: list[float | None] = []
        for p in wide[f].to_numpy(dtype=float):
            row.append(None if math.isnan(p) else min(_SCORE_CAP, -math.log10(max(p, 1e-300))))
        scores.append(row)
    label = [f.removeprefix("feature.").removesuffix(".drift") for f in features]
    return DriftHeatmap(label, [float(s) for s in wide.index], scores)


def estimate_vs_realized(model: str, *, store: Store | None = None) -> Any:
    """Estimated accuracy (before labels) beside realized accuracy (after) per window, with
    the error: how far the CBPE-style estimate can be trusted. A DataFrame indexed by window."""
    from loopml.monitoring._monitor import values

    wide = values(
        model,
        metrics=["performance.estimated_accuracy", "performance.accuracy"],
        store=store,
    )
    if wide.empty:
        return wide
    out = wide.rename(
        columns={"performance.estimated_accuracy": "estimated", "performance.accuracy": "realized"}
    )
    out["error"] = out["estimated"] - out["realized"]
    return out


class _Collector:
    """A prometheus_client collector: one gauge sample per active metric and model."""

    def __init__(self, store: Store, models: Sequence[str] | None) -> None:
        self._store = store
        self._models = models

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        value = GaugeMetricFamily(
            "loopml_monitor_value",
            "Latest window value of each active loopml monitor metric.",
            labels=["model", "metric"],
        )
        alerts = GaugeMetricFamily(
            "loopml_monitor_alerts", "Alerts raised per model.", labels=["model"]
        )
        window = GaugeMetricFamily(
            "loopml_monitor_window_start_seconds",
            "Start (Unix time) of the latest window the monitor computed.",
            labels=["model"],
        )
        surface = self._store.monitors
        models = self._models or [m.model for m in surface.list_monitors()]
        for model in models:
            try:
                seconds = int(surface.get_monitor(model).config["window_seconds"])
            except NotFoundError:
                continue  # a served model without a monitor: nothing to export
            end = surface.last_window(model, seconds)
            if end is None:
                continue
            active = {d.name for d in surface.metrics(model, "active")}
            latest = surface.values(model, seconds, None, end, end + 1)
            for metric, v in zip(latest["metric"], latest["value"], strict=True):
                if metric in active and not math.isnan(v):
                    value.add_metric([model, metric], float(v))
            alerts.add_metric([model], float(len(surface.alerts(model))))
            window.add_metric([model], float(end))
        yield value
        yield alerts
        yield window


def register_prometheus(
    registry: Any = None, *, models: Sequence[str] | None = None, store: Store | None = None
) -> Any:
    """Register the monitor metrics on a prometheus_client registry (default: the global one)
    and return the collector; the serving process's ``/metrics`` then exposes them."""
    try:
        from prometheus_client import REGISTRY
    except ImportError:
        raise MissingDependencyError(
            "the Prometheus export needs prometheus_client: pip install prometheus_client"
        ) from None
    collector = _Collector(_store(store), models)
    (registry or REGISTRY).register(collector)
    return collector
