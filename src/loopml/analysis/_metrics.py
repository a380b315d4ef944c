"""Metrics of an evaluation, each with a bootstrap confidence interval.

Metrics that depend on the rows only through the confusion matrix (accuracy, balanced accuracy,
macro and micro F1) are bootstrapped exactly and cheaply: resampling rows with replacement is the
same as drawing the confusion matrix's cell counts from a multinomial, so any number of rows costs
the same. Row-level metrics (log loss, ROC AUC, calibration error, RMSE, MAE, R2) are bootstrapped
on the rows up to ``ROW_BOOTSTRAP_MAX`` rows; above that by the m-out-of-n bootstrap (samples of
``ROW_BOOTSTRAP_MAX`` rows, deviations scaled by sqrt(m/n)), which keeps a million-row evaluation
fast and is valid for these smooth, root-n consistent statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CM_METRICS",
    "ROW_BOOTSTRAP_MAX",
    "MetricValue",
    "classification_metrics",
    "cm_metric",
    "regression_metrics",
]

ROW_BOOTSTRAP_MAX = 10_000
N_BOOT = 200
N_BOOT_ROWS = 100
CONFIDENCE = 0.95
ECE_BINS = 15
CM_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "micro_f1")


@dataclass(frozen=True, slots=True)
class MetricValue:
    """A metric's value and its confidence interval; ``value`` None when it is undefined."""

    name: str
    value: float | None
    low: float | None
    high: float | None
    note: str | None = None


def cm_metric(name: str, cms: np.ndarray) -> np.ndarray:
    """A confusion-matrix metric of one (k x k) or many (B x k x k) matrices (rows: truth).

    Classes absent from both truth and prediction are left out of the macro averages, as
    scikit-learn does with its default labels.
    """
    import numpy as np

    cms = np.asarray(cms, dtype=np.float64)
    single = cms.ndim == 2
    if single:
        cms = cms[None]
    n = cms.sum(axis=(1, 2))
    tp = np.diagonal(cms, axis1=1, axis2=2)
    true_n = cms.sum(axis=2)
    pred_n = cms.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if name in ("accuracy", "micro_f1"):
            out = tp.sum(1) / n
        elif name == "balanced_accuracy":
            present = true_n > 0
            recall = np.where(present, tp / np.where(present, true_n, 1), 0.0)
            out = recall.sum(1) / present.sum(1)
        elif name == "macro_f1":
            present = (true_n + pred_n) > 0
            f1 = np.where(present, 2 * tp / np.where(present, true_n + pred_n, 1), 0.0)
            out = f1.sum(1) / present.sum(1)
        else:
            raise KeyError(name)
    return out[0] if single else out


# The range each metric can take; an interval is clipped to it (a calibration error near 0
# must not get a negative lower bound).
_INF = float("inf")
_RANGE = {"log_loss": (0.0, _INF), "rmse": (0.0, _INF), "mae": (0.0, _INF), "r2": (-_INF, 1.0)}


def _interval(
    name: str, value: float, draws: np.ndarray, scale: float = 1.0, note: str | None = None
) -> MetricValue:
    import numpy as np

    draws = draws[np.isfinite(draws)]
    if len(draws) < 10:
        return MetricValue(name, value, None, None, note)
    lo, hi = np.quantile(draws - draws.mean(), [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    floor, ceil = _RANGE.get(name, (0.0, 1.0))
    low = float(min(max(value + scale * float(lo), floor), value))
    high = float(max(min(value + scale * float(hi), ceil), value))
    return MetricValue(name, value, low, high, note)


def _row_samples(n: int, rng: np.random.Generator) -> tuple[np.ndarray, float, str]:
    import numpy as np

    m = min(n, ROW_BOOTSTRAP_MAX)
    idx = rng.integers(0, n, size=(N_BOOT_ROWS, m))
    if m == n:
        return idx, 1.0, f"bootstrap, {N_BOOT_ROWS} resamples"
    return idx, float(np.sqrt(m / n)), f"m-out-of-n bootstrap, m={m}, {N_BOOT_ROWS} resamples"


def _dense_ranks(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's rank among the distinct values (ties share one), and how many there are."""
    import numpy as np

    uniq, inverse = np.unique(x, return_inverse=True)
    return inverse.astype(np.int64), len(uniq)


def _auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC from positive and negative counts per distinct score, in score order (last axis):
    the chance a positive outscores a negative, ties counting one half (Mann-Whitney U)."""
    import numpy as np

    below = np.cumsum(neg, axis=-1) - neg
    n_pos, n_neg = pos.sum(-1), neg.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(-1) / (n_pos * n_neg)


# Above this many draws x distinct scores, bootstrap AUCs are counted one draw at a time.
_AUC_CELLS = 4_000_000


def _auc_classes(k: int) -> list[int]:
    return [1] if k == 2 else list(range(k))


def roc_auc(truth: np.ndarray, probs: np.ndarray, idx: np.ndarray | None = None) -> Any:
    """ROC AUC: binary on the second class's probability, else one-vs-rest macro average.

    Computed from counts per distinct score (Mann-Whitney U, ties averaged), sorting once. With
    ``idx`` (draws x rows, bootstrap resamples) returns one AUC per draw, vectorized over the
    draws. NaN when a class has no positive or no negative example.
    """
    value, draws = _roc_auc(truth, probs, idx)
    return value if idx is None else draws


def _macro(aucs: np.ndarray, k: int) -> np.ndarray:
    """Per-class AUCs (classes x draws) to one per draw: the binary class, or the mean over the
    classes defined in that draw (one without positives or negatives is left out)."""
    import numpy as np

    if k == 2:
        return aucs[0]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(aucs)
        return np.where(valid, aucs, 0).sum(0) / valid.sum(0)


def _roc_auc(
    truth: np.ndarray, probs: np.ndarray, idx: np.ndarray | None
) -> tuple[float, np.ndarray | None]:
    """The AUC of all rows, and of each bootstrap draw when ``idx`` is given (ranks sorted once
    for both)."""
    import numpy as np

    k = probs.shape[1]
    values, per_draw = [], []
    for c in _auc_classes(k):
        ranks, u = _dense_ranks(probs[:, c])
        is_pos = truth == c
        pos = np.bincount(ranks, weights=is_pos, minlength=u)
        neg = np.bincount(ranks, minlength=u) - pos
        values.append(_auc_from_counts(pos, neg))
        if idx is None:
            continue
        draws = idx.shape[0]
        r, p = ranks[idx], is_pos[idx]
        if draws * u <= _AUC_CELLS:
            flat = (np.arange(draws)[:, None] * u + r).ravel()
            tot = np.bincount(flat, minlength=draws * u).reshape(draws, u)
            pos_d = np.bincount(flat, weights=p.ravel(), minlength=draws * u).reshape(draws, u)
            per_draw.append(_auc_from_counts(pos_d, tot - pos_d))
        else:
            out = np.empty(draws)
            for d in range(draws):
                rd, inv = np.unique(r[d], return_inverse=True)
                pos_d = np.bincount(inv, weights=p[d], minlength=len(rd))
                neg_d = np.bincount(inv, minlength=len(rd)) - pos_d
                out[d] = _auc_from_counts(pos_d, neg_d)
            per_draw.append(out)
    value = float(_macro(np.array(values, dtype=np.float64)[:, None], k)[0])
    return value, (_macro(np.vstack(per_draw), k) if idx is not None else None)


def ece(truth: np.ndarray, probs: np.ndarray, idx: np.ndarray | None = None) -> Any:
    """Expected calibration error: the confidence of the top class against its accuracy, in
    ``ECE_BINS`` equal-width bins, weighted by bin size. With ``idx`` (draws x rows) returns one
    value per bootstrap draw, vectorized."""
    value, draws = _ece(truth, probs, idx)
    return value if idx is None else draws


def _ece(
    truth: np.ndarray, probs: np.ndarray, idx: np.ndarray | None
) -> tuple[float, np.ndarray | None]:
    """The ECE of all rows, and of each bootstrap draw when ``idx`` is given."""
    import numpy as np

    conf = np.maximum.reduce(probs, axis=1)
    correct = (probs.argmax(1) == truth).astype(np.float64)
    bins = np.minimum((conf * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    acc = np.bincount(bins, weights=correct, minlength=ECE_BINS)
    cs = np.bincount(bins, weights=conf, minlength=ECE_BINS)
    value = float(np.abs(acc - cs).sum() / len(truth))
    if idx is None:
        return value, None
    draws, m = idx.shape
    flat = (np.arange(draws)[:, None] * ECE_BINS + bins[idx]).ravel()
    size = draws * ECE_BINS
    acc_d = np.bincount(flat, weights=correct[idx].ravel(), minlength=size).reshape(draws, -1)
    cs_d = np.bincount(flat, weights=conf[idx].ravel(), minlength=size).reshape(draws, -1)
    return value, np.abs(acc_d - cs_d).sum(1) / m


def classification_metrics(
    truth: np.ndarray, pred: np.ndarray, k: int, probs: np.ndarray | None, seed: int = 0
) -> list[MetricValue]:
    """Accuracy, balanced accuracy, macro/micro F1 and, with probabilities, log loss, ROC AUC
    and expected calibration error, each with a 95% bootstrap interval.

    ``truth``/``pred`` are class indices in ``range(k)``; ``probs`` rows follow the same order.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(truth)
    cm = np.bincount(truth * k + pred, minlength=k * k).reshape(k, k)
    draws = rng.multinomial(n, cm.ravel() / n, size=N_BOOT).reshape(N_BOOT, k, k)
    out = []
    for name in CM_METRICS:
        value = float(cm_metric(name, cm))
        out.append(
            _interval(name, value, cm_metric(name, draws), note="exact multinomial bootstrap")
        )
    if probs is None:
        return out
    idx, scale, note = _row_samples(n, rng)
    p_true = np.clip(probs[np.arange(n), truth], 1e-15, 1.0)
    losses = -np.log(p_true)
    out.append(_interval("log_loss", float(losses.mean()), losses[idx].mean(1), scale, note))
    auc, auc_draws = _roc_auc(truth, probs, idx)
    if np.isnan(auc):
        out.append(MetricValue("roc_auc", None, None, None, "undefined: a class has no examples"))
    else:
        assert auc_draws is not None
        out.append(_interval("roc_auc", auc, auc_draws, scale, note))
    e, ece_draws = _ece(truth, probs, idx)
    assert ece_draws is not None
    out.append(_interval("ece", e, ece_draws, scale, note))
    return out


def regression_metrics(truth: np.ndarray, pred: np.ndarray, seed: int = 0) -> list[MetricValue]:
    """RMSE, MAE and R2, each with a 95% bootstrap interval."""
    import numpy as np

    rng = np.random.default_rng(seed)
    err = pred - truth
    idx, scale, note = _row_samples(len(truth), rng)
    sq, ab = err**2, np.abs(err)
    out = [
        _interval("rmse", float(np.sqrt(sq.mean())), np.sqrt(sq[idx].mean(1)), scale, note),
        _interval("mae", float(ab.mean()), ab[idx].mean(1), scale, note),
    ]
    var = truth.var()
    if var == 0:
        out.append(MetricValue("r2", None, None, None, "undefined: the truth is constant"))
    else:
        r2_draws = 1 - sq[idx].mean(1) / truth[idx].var(1)
        out.append(_interval("r2", float(1 - sq.mean() / var), r2_draws, scale, note))
    return out
