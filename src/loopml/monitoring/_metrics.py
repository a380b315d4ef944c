"""The metric catalog: each metric a small class registered by name.

A metric declares the per-window aggregates it needs (``aggregates()``, compiled by the store
into ONE query for the whole catalog, identical aggregates shared) and turns their values into
its value (``finish``). It also carries its default alert rule. New metrics follow the pattern::

    @register_metric
    class MedianLatency(Metric):
        kind = "my_latency_p50"
        group = "software"
        def aggregates(self): return [Aggregate("quantile", "latency_ms", 0.5)]
        def finish(self, values, n, window_seconds): return values[0]

Metrics are pure (no state between windows): safe to compute windows in any order, in any
process (the Ray backfill ships them to workers as their specs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from loopml._errors import ValidationError
from loopml.monitoring._drift import (
    categorical_test,
    decile_shares,
    numeric_test,
    psi_from_shares,
)
from loopml.store import Aggregate

__all__ = [
    "Metric",
    "make_metric",
    "metric_classes",
    "register_metric",
]

_REGISTRY: dict[str, type[Metric]] = {}
_NAN = float("nan")


def register_metric(cls: type[Metric]) -> type[Metric]:
    """Class decorator: make ``cls`` available by its ``kind`` (catalog specs refer to it)."""
    if not getattr(cls, "kind", None):
        raise ValidationError(f"metric class {cls.__name__} needs a 'kind' name")
    _REGISTRY[cls.kind] = cls
    return cls


def metric_classes() -> dict[str, type[Metric]]:
    """Every registered metric class by kind."""
    return dict(_REGISTRY)


def make_metric(kind: str, name: str, spec: dict[str, Any]) -> Metric:
    """Build a metric of registered ``kind`` from its stored spec."""
    cls = _REGISTRY.get(kind)
    if cls is None:
        import difflib

        hint = difflib.get_close_matches(kind, list(_REGISTRY), n=1)
        raise ValidationError(
            f"no metric class {kind!r} is registered"
            + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {sorted(_REGISTRY)}")
        )
    params = {k: v for k, v in spec.items() if k != "rule"}
    return cls(name, rule=spec.get("rule"), **params)


class Metric:
    """Base of every monitor metric. Subclasses set ``kind`` and ``group``.

    Contract: ``aggregates()`` is fixed for an instance; ``finish(values, n, window_seconds)``
    gets those aggregates' values for one window (NaN where the window had nothing to aggregate)
    and returns the metric value, NaN for "no value". Instances are immutable and picklable.
    """

    kind: ClassVar[str] = ""
    group: ClassVar[str] = "custom"
    # Default alert rule: zscore against trailing history, both directions.
    default_rule: ClassVar[dict[str, Any]] = {"type": "zscore", "z": 5.0, "direction": "both"}

    def __init__(self, name: str, rule: dict[str, Any] | None = None, **params: Any) -> None:
        self.name = name
        self.params = params
        self.rule = dict(rule) if rule else dict(self.default_rule)

    def spec(self) -> dict[str, Any]:
        """The JSON-able parameters (with the rule) stored in the catalog."""
        return {**self.params, "rule": self.rule}

    def aggregates(self) -> list[Aggregate]:
        """The per-window aggregates this metric needs."""
        raise NotImplementedError

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        """The metric's value for one window from its aggregates' values."""
        return float(values[0]) if values else _NAN

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _col(feature: str) -> str:
    return f"in.{feature}"


# --- software --------------------------------------------------------------------------------


@register_metric
class RowCount(Metric):
    """Rows answered in the window."""

    kind = "rows"
    group = "software"

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("count")]


@register_metric
class Qps(Metric):
    """Requests per second (distinct request ids over the window length)."""

    kind = "qps"
    group = "software"

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("count_distinct", "request_id")]

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        v = values[0]
        return 0.0 if n == 0 or math.isnan(v) else v / window_seconds


@register_metric
class LatencyQuantile(Metric):
    """A latency quantile in milliseconds (``q``)."""

    kind = "latency_quantile"
    group = "software"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "up"}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("quantile", "latency_ms", float(self.params["q"]))]


@register_metric
class LatencyMean(Metric):
    """Mean latency in milliseconds."""

    kind = "latency_mean"
    group = "software"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "up"}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("avg", "latency_ms")]


@register_metric
class ErrorRate(Metric):
    """Share of rows answered with an HTTP error status."""

    kind = "error_rate"
    group = "software"
    default_rule = {"type": "threshold", "above": 0.05}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("share_ge", "status", 400)]


@register_metric
class PayloadMean(Metric):
    """Mean request body size in bytes."""

    kind = "payload_mean"
    group = "software"

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("avg", "payload_bytes")]


# --- predictions -----------------------------------------------------------------------------


@register_metric
class ClassShare(Metric):
    """Share of predictions of class ``label``."""

    kind = "class_share"
    group = "prediction"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "both", "min_change": 0.02}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("share_eq", "prediction", str(self.params["label"]))]


@register_metric
class MeanConfidence(Metric):
    """Mean confidence (max class probability) of the predictions."""

    kind = "mean_confidence"
    group = "prediction"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "down", "min_change": 0.01}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("avg", "confidence")]


@register_metric
class Entropy(Metric):
    """Mean entropy of the predicted class probabilities (nats)."""

    kind = "entropy"
    group = "prediction"

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("list_entropy", "probabilities")]


@register_metric
class EstimatedAccuracy(Metric):
    """Accuracy estimated before labels arrive, from confidence (as NannyML's CBPE does).

    The reference (where labels are known) gives the observed accuracy per confidence bin
    (``edges``, ``accuracy``): a calibration map. A window's estimate is the share of its rows in
    each bin times that bin's accuracy. Without labeled reference the map is the identity
    (accuracy = confidence), right for a calibrated model. Checked against ``accuracy`` (the
    realized value) once feedback lands.
    """

    kind = "estimated_accuracy"
    group = "performance"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "down", "min_change": 0.02}

    def aggregates(self) -> list[Aggregate]:
        if not self.params.get("edges"):
            return [Aggregate("avg", "confidence")]
        return [Aggregate("share_le", "confidence", float(e)) for e in self.params["edges"]]

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        if not self.params.get("edges"):
            return float(values[0])
        if any(math.isnan(v) for v in values):
            return _NAN
        acc = self.params["accuracy"]  # one per bin: <= e0, (e0, e1], ..., > e_last
        prev, total = 0.0, 0.0
        for share, a in zip([*values, 1.0], acc, strict=True):
            total += (share - prev) * a
            prev = share
        return total


@register_metric
class RealizedAccuracy(Metric):
    """Accuracy once feedback has landed (computed from the feedback join, not the one pass)."""

    kind = "accuracy"
    group = "performance"
    default_rule = {"type": "zscore", "z": 4.0, "direction": "down", "min_change": 0.02}

    def aggregates(self) -> list[Aggregate]:
        return []


@register_metric
class PredictionDrift(Metric):
    """Drift of the predicted class mix against the reference (chi-square p-value)."""

    kind = "prediction_drift"
    group = "drift"
    default_rule = {"type": "drift", "alpha": 0.01}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("share_eq", "prediction", str(c)) for c in self.params["classes"]]

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        if n == 0 or any(math.isnan(v) for v in values):
            return _NAN
        ref_n = int(self.params.get("n", 100_000))
        ref = {
            c: round(s * ref_n)
            for c, s in zip(self.params["classes"], self.params["shares"], strict=True)
        }
        cur = {c: round(v * n) for c, v in zip(self.params["classes"], values, strict=True)}
        t = categorical_test(self.name, ref, cur)
        return t.p_value if t.big_enough else 1.0


# --- features --------------------------------------------------------------------------------


class _FeatureMetric(Metric):
    group = "feature"

    @property
    def column(self) -> str:
        return _col(self.params["feature"])


@register_metric
class FeatureMean(_FeatureMetric):
    """Mean of a numeric feature."""

    kind = "feature_mean"

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("avg", self.column)]


@register_metric
class FeatureStd(_FeatureMetric):
    """Standard deviation of a numeric feature."""

    kind = "feature_std"

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("stddev", self.column)]


@register_metric
class FeatureQuantile(_FeatureMetric):
    """A quantile (``q``) of a numeric feature."""

    kind = "feature_quantile"

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("quantile", self.column, float(self.params["q"]))]


@register_metric
class MissingRate(_FeatureMetric):
    """Share of rows where the feature is missing (null or absent from the log)."""

    kind = "missing_rate"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "up", "min_change": 0.02}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("null_rate", self.column)]

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        # A column absent from every file of the window is missing on every row.
        return 1.0 if n and math.isnan(values[0]) else float(values[0])


@register_metric
class OutOfRangeRate(_FeatureMetric):
    """Share of values outside the reference's [min, max]."""

    kind = "out_of_range_rate"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "up", "min_change": 0.01}

    def aggregates(self) -> list[Aggregate]:
        return [
            Aggregate(
                "share_outside", self.column, (float(self.params["lo"]), float(self.params["hi"]))
            )
        ]


@register_metric
class UnseenRate(_FeatureMetric):
    """Share of categorical values never seen in the reference."""

    kind = "unseen_rate"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "up", "min_change": 0.01}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("share_not_in", self.column, tuple(self.params["categories"]))]


@register_metric
class CategoryShare(_FeatureMetric):
    """Share of a categorical feature's ``value``."""

    kind = "category_share"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "both", "min_change": 0.02}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("share_eq", self.column, str(self.params["value"]))]


class _BinnedDrift(_FeatureMetric):
    """Shared shape: the feature's share <= each reference quantile edge."""

    group = "drift"

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("share_le", self.column, float(e)) for e in self.params["edges"]]

    def _cdfs(self, values: Sequence[float]) -> tuple[list[float], list[float]] | None:
        if any(math.isnan(v) for v in values):
            return None
        return list(self.params["cdf"]), list(values)


@register_metric
class FeaturePsi(_BinnedDrift):
    """Population stability index over the reference's decile bins."""

    kind = "psi"
    default_rule = {"type": "threshold", "above": 0.25}

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        cdfs = self._cdfs(values)
        if cdfs is None:
            return _NAN
        return psi_from_shares(*decile_shares(*cdfs))


@register_metric
class FeatureKs(_BinnedDrift):
    """Kolmogorov-Smirnov statistic on the reference's quantile grid."""

    kind = "ks"
    default_rule = {"type": "threshold", "above": 0.2}

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        cdfs = self._cdfs(values)
        return _NAN if cdfs is None else max(abs(a - b) for a, b in zip(*cdfs, strict=True))


@register_metric
class FeatureJs(_BinnedDrift):
    """Jensen-Shannon distance (base 2) over the reference's decile bins."""

    kind = "js"
    default_rule = {"type": "threshold", "above": 0.2}

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        cdfs = self._cdfs(values)
        if cdfs is None:
            return _NAN
        p, q = decile_shares(*cdfs)
        m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]
        kl = lambda x, y: sum(a * math.log2(a / b) for a, b in zip(x, y, strict=True) if a > 0)  # noqa: E731
        return math.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2))


@register_metric
class FeatureWasserstein(_BinnedDrift):
    """Wasserstein-1 distance in reference standard deviations (integrated CDF gap on the grid)."""

    kind = "wasserstein"
    default_rule = {"type": "threshold", "above": 0.5}

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        cdfs = self._cdfs(values)
        if cdfs is None:
            return _NAN
        edges = self.params["edges"]
        gaps = [abs(a - b) for a, b in zip(*cdfs, strict=True)]
        total = sum(g * (edges[i + 1] - edges[i]) for i, g in enumerate(gaps[:-1]))
        sd = float(self.params.get("sd") or 1.0)
        return total / sd if sd > 0 else total


@register_metric
class FeatureDrift(_FeatureMetric):
    """The drift test of :func:`loopml.monitoring.drift` on one feature: a guarded p-value.

    Numeric: mean z-test + KS on the reference grid + missing-share test, from the window's
    count, mean, sd, missing share and CDF on the grid. Categorical: chi-square over the
    reference's categories, unseen and missing. The value is the p-value, or 1 when the change
    is too small to matter (the effect-size guard); the ``drift`` rule applies Holm across the
    window's drift metrics.
    """

    kind = "feature_drift"
    group = "drift"
    default_rule = {"type": "drift", "alpha": 0.01}

    def aggregates(self) -> list[Aggregate]:
        col = self.column
        if self.params["type"] == "numeric":
            return [
                Aggregate("null_rate", col),
                Aggregate("avg", col),
                Aggregate("stddev", col),
                *(Aggregate("share_le", col, float(e)) for e in self.params["edges"]),
            ]
        cats = self.params["categories"]
        return [
            Aggregate("null_rate", col),
            *(Aggregate("share_eq", col, str(c)) for c in cats),
        ]

    def finish(self, values: Sequence[float], n: int, window_seconds: int) -> float:
        if n == 0:
            return _NAN
        null_rate = 1.0 if math.isnan(values[0]) else values[0]
        ref_n = int(self.params["n"])
        if self.params["type"] == "numeric":
            n_ok = round(n * (1 - null_rate))
            mean, sd = values[1], values[2]
            cdf = list(values[3:])
            ref_stats = (
                int(ref_n * (1 - self.params["missing"])),
                round(ref_n * self.params["missing"]),
                float(self.params["mean"]),
                float(self.params["sd"]) ** 2,
            )
            if n_ok == 0 or any(math.isnan(v) for v in cdf):
                cur_stats = (0, n, 0.0, 0.0)
                cdf = [0.0] * len(cdf)
            else:
                cur_stats = (n_ok, n - n_ok, float(mean), 0.0 if math.isnan(sd) else float(sd) ** 2)
            t = numeric_test(self.name, ref_stats, cur_stats, list(self.params["cdf"]), cdf)
        else:
            cats = self.params["categories"]
            shares = [0.0 if math.isnan(v) else v for v in values[1:]]
            n_valid = n * (1 - null_rate)
            cur = {c: round(s * n_valid) for c, s in zip(cats, shares, strict=True)}
            cur["<other>"] = max(0, round(n_valid) - sum(cur.values()))
            cur["<missing>"] = round(n * null_rate)
            ref = {c: round(s * ref_n) for c, s in zip(cats, self.params["shares"], strict=True)}
            ref["<other>"] = round(ref_n * self.params.get("other", 0.0))
            ref["<missing>"] = round(ref_n * self.params.get("missing", 0.0))
            t = categorical_test(self.name, ref, cur)
        return t.p_value if t.big_enough else 1.0


# --- segments --------------------------------------------------------------------------------


@register_metric
class SegmentShare(Metric):
    """Share of traffic in a segment (``column`` == ``value``)."""

    kind = "segment_share"
    group = "segment"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "both", "min_change": 0.02}

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("share_eq", self.params["column"], str(self.params["value"]))]


@register_metric
class SegmentConfidence(Metric):
    """Mean confidence inside a segment (``column`` == ``value``)."""

    kind = "segment_confidence"
    group = "segment"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "down", "min_change": 0.02}

    def aggregates(self) -> list[Aggregate]:
        return [
            Aggregate("avg_where", "confidence", (self.params["column"], str(self.params["value"])))
        ]


@register_metric
class SegmentLatency(Metric):
    """Mean latency inside a segment (``column`` == ``value``)."""

    kind = "segment_latency"
    group = "segment"
    default_rule = {"type": "zscore", "z": 5.0, "direction": "up"}

    def aggregates(self) -> list[Aggregate]:
        return [
            Aggregate("avg_where", "latency_ms", (self.params["column"], str(self.params["value"])))
        ]


# --- custom ----------------------------------------------------------------------------------


@register_metric
class SqlMetric(Metric):
    """A custom aggregate written in SQL over the log's columns (``sql``), e.g.
    ``avg(CASE WHEN "in.amount" > 1000 THEN 1.0 ELSE 0.0 END)``. It runs in the one pass."""

    kind = "sql"
    group = "custom"

    def aggregates(self) -> list[Aggregate]:
        return [Aggregate("sql", None, str(self.params["sql"]))]


@register_metric
class PythonMetric(Metric):
    """A custom metric as a Python function ``module:function`` of the window's rows (a
    DataFrame) returning a number. It reads its window separately (not in the one pass)."""

    kind = "python"
    group = "custom"

    def aggregates(self) -> list[Aggregate]:
        return []

    def function(self) -> Any:
        """The imported function."""
        import importlib

        module, _, attr = str(self.params["function"]).partition(":")
        if not module or not attr:
            raise ValidationError(
                f"python metric function must be 'module:function', got {self.params['function']!r}"
            )
        return getattr(importlib.import_module(module), attr)
