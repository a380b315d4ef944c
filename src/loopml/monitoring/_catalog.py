"""Generate "a very large set": every applicable metric for every feature and segment.

The reference (a training dataset version or a window of the log) gives each feature's type,
quantile grid, range and categories; the catalog then holds, per numeric feature, its mean, sd,
five quantiles, missing and out-of-range rates and four drift measures plus the drift test; per
categorical feature, its missing and unseen rates, the share of each common category and the drift
test; per segment (the most common values of each categorical feature), its traffic share, mean
confidence and latency; and the software, prediction and performance metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.monitoring._drift import is_numeric
from loopml.monitoring._metrics import Metric, make_metric

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FeatureProfile", "ReferenceProfile", "generate_catalog", "profile_reference"]

_GRID_QS = [i / 20 for i in range(1, 20)]  # 19 interior quantiles: 5% steps
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_TOP_CATEGORIES = 20


@dataclass(frozen=True)
class FeatureProfile:
    """What the reference says about one feature."""

    name: str
    type: str  # numeric, categorical
    n: int
    missing: float
    mean: float = 0.0
    sd: float = 0.0
    lo: float = 0.0
    hi: float = 0.0
    edges: list[float] = field(default_factory=list)
    cdf: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)
    other: float = 0.0


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference: per-feature profiles, the class mix and the confidence calibration."""

    features: list[FeatureProfile]
    classes: list[str]
    class_shares: list[float]
    n: int
    calibration_edges: list[float] = field(default_factory=list)
    calibration_accuracy: list[float] = field(default_factory=list)
    description: str = ""


def _feature_name(column: str) -> str:
    return column[3:] if column.startswith("in.") else column


def profile_reference(
    frame: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    classes: Sequence[str] = (),
    description: str = "",
) -> ReferenceProfile:
    """Profile a reference frame: feature columns (``x`` or ``in.x``), and optionally
    ``prediction``, ``confidence`` and ``truth`` (which give the class mix and the calibration
    map of the estimated accuracy)."""
    import numpy as np
    import pandas as pd

    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise ValidationError("the reference must be a non-empty DataFrame of feature columns")
    skip = {
        "id",
        "request_id",
        "time",
        "model",
        "model_version",
        "status",
        "latency_ms",
        "payload_bytes",
        "prediction",
        "confidence",
        "probabilities",
        "truth",
        "label",
        "split",
        "date",
        "hour",
        "shadow_model_version",
        "shadow_prediction",
        "shadow_confidence",
    }
    cols = (
        [c if c in frame.columns else f"in.{c}" for c in features]
        if features is not None
        else [c for c in frame.columns if c not in skip]
    )
    profiles: list[FeatureProfile] = []
    n = len(frame)
    for col in cols:
        if col not in frame.columns:
            raise ValidationError(f"reference has no column {col!r}")
        s = frame[col]
        name = _feature_name(str(col))
        missing = float(s.isna().mean())
        numeric_kind = (
            "f"
            if pd.api.types.is_float_dtype(s.dtype)
            else "i"
            if pd.api.types.is_integer_dtype(s.dtype)
            else "O"
        )
        values = s.to_numpy(dtype=np.float64, na_value=np.nan) if numeric_kind != "O" else None
        if values is not None and is_numeric(values, numeric_kind):
            x = values[~np.isnan(values)]
            if x.size == 0:
                profiles.append(FeatureProfile(name, "numeric", n, missing))
                continue
            edges = np.unique(np.quantile(x, _GRID_QS))
            cdf = np.searchsorted(np.sort(x), edges, side="right") / x.size
            profiles.append(
                FeatureProfile(
                    name,
                    "numeric",
                    n,
                    missing,
                    mean=float(x.mean()),
                    sd=float(x.std(ddof=1)) if x.size > 1 else 0.0,
                    lo=float(x.min()),
                    hi=float(x.max()),
                    edges=[float(e) for e in edges],
                    cdf=[float(c) for c in cdf],
                )
            )
        else:
            counts = s.dropna().astype(str).value_counts()
            total = max(int(counts.sum()), 1)
            top = counts.iloc[:_TOP_CATEGORIES]
            profiles.append(
                FeatureProfile(
                    name,
                    "categorical",
                    n,
                    missing,
                    categories=[str(c) for c in top.index],
                    shares=[float(v) / total * (1 - missing) for v in top.to_numpy()],
                    other=float(counts.iloc[_TOP_CATEGORIES:].sum()) / total * (1 - missing),
                )
            )
    class_list = [str(c) for c in classes]
    shares: list[float] = []
    if "prediction" in frame.columns:
        pred = frame["prediction"].dropna().astype(str)
        if not class_list:
            class_list = sorted(pred.unique().tolist())
        vc = pred.value_counts(normalize=True)
        shares = [float(vc.get(c, 0.0)) for c in class_list]
    elif class_list:
        shares = [1.0 / len(class_list)] * len(class_list)
    cal_edges: list[float] = []
    cal_acc: list[float] = []
    if {"confidence", "prediction", "truth"} <= set(frame.columns):
        conf = frame["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
        correct = (frame["prediction"].astype(str) == frame["truth"].astype(str)).to_numpy()
        ok = ~np.isnan(conf)
        if ok.sum() >= 100:
            cal_edges = [
                float(e) for e in np.unique(np.quantile(conf[ok], [0.1 * i for i in range(1, 10)]))
            ]
            bins = np.searchsorted(np.asarray(cal_edges), conf[ok], side="left")
            for b in range(len(cal_edges) + 1):
                sel = correct[ok][bins == b]
                cal_acc.append(float(sel.mean()) if sel.size else 0.0)
    return ReferenceProfile(profiles, class_list, shares, n, cal_edges, cal_acc, description)


def generate_catalog(
    profile: ReferenceProfile, *, segments: int = 3, software: bool = True
) -> list[Metric]:
    """Every applicable metric for the reference's features, segments and classes."""
    specs: list[tuple[str, str, dict[str, Any]]] = []
    if software:
        specs += [
            ("rows", "rows", {}),
            ("qps", "qps", {}),
            ("latency.mean", "latency_mean", {}),
            *(
                (f"latency.p{int(q * 100)}", "latency_quantile", {"q": q})
                for q in (0.5, 0.95, 0.99)
            ),
            ("error_rate", "error_rate", {}),
            ("payload.mean", "payload_mean", {}),
        ]
    specs += [
        ("prediction.confidence", "mean_confidence", {}),
        ("prediction.entropy", "entropy", {}),
        (
            "performance.estimated_accuracy",
            "estimated_accuracy",
            {"edges": profile.calibration_edges, "accuracy": profile.calibration_accuracy},
        ),
        ("performance.accuracy", "accuracy", {}),
    ]
    if profile.classes:
        specs += [(f"prediction.share.{c}", "class_share", {"label": c}) for c in profile.classes]
        specs.append(
            (
                "prediction.drift",
                "prediction_drift",
                {"classes": profile.classes, "shares": profile.class_shares, "n": profile.n},
            )
        )
    for f in profile.features:
        base = f"feature.{f.name}"
        specs.append((f"{base}.missing", "missing_rate", {"feature": f.name}))
        if f.type == "numeric":
            specs += [
                (f"{base}.mean", "feature_mean", {"feature": f.name}),
                (f"{base}.std", "feature_std", {"feature": f.name}),
                *(
                    (f"{base}.p{int(q * 100):02d}", "feature_quantile", {"feature": f.name, "q": q})
                    for q in _QUANTILES
                ),
            ]
            if not f.edges:
                continue
            grid = {"feature": f.name, "edges": f.edges, "cdf": f.cdf}
            specs += [
                (
                    f"{base}.out_of_range",
                    "out_of_range_rate",
                    {"feature": f.name, "lo": f.lo, "hi": f.hi},
                ),
                (f"{base}.psi", "psi", grid),
                (f"{base}.ks", "ks", grid),
                (f"{base}.js", "js", grid),
                (f"{base}.wasserstein", "wasserstein", {**grid, "sd": f.sd}),
                (
                    f"{base}.drift",
                    "feature_drift",
                    {
                        **grid,
                        "type": "numeric",
                        "n": f.n,
                        "missing": f.missing,
                        "mean": f.mean,
                        "sd": f.sd,
                    },
                ),
            ]
        else:
            specs += [
                (f"{base}.unseen", "unseen_rate", {"feature": f.name, "categories": f.categories}),
                *(
                    (f"{base}.share.{c}", "category_share", {"feature": f.name, "value": c})
                    for c in f.categories[:10]
                ),
                (
                    f"{base}.drift",
                    "feature_drift",
                    {
                        "feature": f.name,
                        "type": "categorical",
                        "n": f.n,
                        "missing": f.missing,
                        "categories": f.categories,
                        "shares": f.shares,
                        "other": f.other,
                    },
                ),
            ]
            for c in f.categories[:segments]:
                seg = {"column": f"in.{f.name}", "value": c}
                specs += [
                    (f"segment.{f.name}={c}.confidence", "segment_confidence", seg),
                    (f"segment.{f.name}={c}.latency", "segment_latency", seg),
                ]
    out = [make_metric(kind, name, params) for name, kind, params in specs]
    bad = [
        m.name
        for m in out
        if any(isinstance(v, float) and math.isnan(v) for v in m.params.values())
    ]
    if bad:
        raise ValidationError(f"the reference gave NaN parameters for {bad[:3]}; check its columns")
    return out
