"""The ceiling table: for each tag or slice, how much the metric would rise if its errors were fixed.

What "fixed" means, metric by metric (``docs/analysis.md`` says the same):

- Confusion-matrix metrics (accuracy, balanced accuracy, macro and micro F1): a fixed error is
  predicted as its true class, which moves the group's off-diagonal cells onto the diagonal; the
  gain follows from two matrices, the group's and the rest's. Its interval is an exact bootstrap
  of the rows: resampling rows is drawing the 2 x k x k cell counts from a multinomial.
- Probability metrics (log loss, ROC AUC, expected calibration error): a fixed error gets the
  true class *with the prediction's confidence*: the probabilities of its predicted and its true
  class swap places (the row still sums to 1, the model is as sure as it was, now rightly).
- Regression (RMSE, MAE, R2): an *error* is an example whose absolute residual is above a
  threshold (``error_threshold``; by default the 90th percentile of the absolute residuals, so
  the largest 10% are the errors), and a fixed error is predicted exactly (residual 0).

The gain is always "how much better": the new value minus the old one for metrics where higher
is better (accuracy, ROC AUC, R2...), the old minus the new for losses and errors (log loss, ECE,
RMSE, MAE), so the table sorts the same way for every metric. Row-level metrics get an interval
from a paired bootstrap of the rows (the m-out-of-n bootstrap above ``ROW_BOOTSTRAP_MAX`` rows,
as the evaluation's own metrics do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.analysis._metrics import CM_METRICS, N_BOOT, _ece, _roc_auc, cm_metric

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from loopml.store import EvaluationRecord, Store

__all__ = [
    "CEILING_COLUMNS", "DEFAULT_ERROR_QUANTILE", "LOWER_IS_BETTER", "PROBABILITY_METRICS",
    "REGRESSION_METRICS", "ceiling", "ceiling_metrics",
]  # fmt: skip

PROBABILITY_METRICS = ("log_loss", "roc_auc", "ece")
REGRESSION_METRICS = ("rmse", "mae", "r2")
LOWER_IS_BETTER = ("log_loss", "ece", "rmse", "mae")
DEFAULT_ERROR_QUANTILE = 0.9  # regression: the largest 10% absolute residuals are the errors

CEILING_COLUMNS = [
    "size", "errors", "share", "error_rate", "p_value", "gain", "gain_low", "gain_high",
]  # fmt: skip


def _fixed(cms: np.ndarray) -> np.ndarray:
    import numpy as np

    out = np.zeros_like(cms)
    idx = np.arange(cms.shape[-1])
    out[..., idx, idx] = cms.sum(-1)
    return out


def _matrix(table: pa.Table, index: dict[str, int], k: int, group: str | None) -> dict[Any, Any]:
    import numpy as np

    out: dict[Any, np.ndarray] = {}
    for r in table.to_pylist():
        g = r[group] if group else None
        cm = out.setdefault(g, np.zeros((k, k)))
        cm[index[r["k0"]], index[r["k1"]]] += r["n"]
    return out


def _gain_rows(
    groups: dict[str, np.ndarray], cm_all: np.ndarray, metric: str, p0: float, seed: int
) -> list[dict[str, Any]]:
    import numpy as np
    from scipy.stats import binom

    rng = np.random.default_rng(seed)
    n_all = cm_all.sum()
    e_all = n_all - np.trace(cm_all)
    base = float(cm_metric(metric, cm_all))
    rows = []
    for name, cm_in in groups.items():
        n = int(cm_in.sum())
        errors = int(n - np.trace(cm_in))
        cm_out = cm_all - cm_in
        gain = float(cm_metric(metric, cm_out + _fixed(cm_in))) - base
        k = cm_all.shape[0]
        probs = np.concatenate([cm_in.ravel(), cm_out.ravel()]) / n_all
        draws = rng.multinomial(int(n_all), probs, size=N_BOOT)
        d_in = draws[:, : k * k].reshape(-1, k, k)
        d_out = draws[:, k * k :].reshape(-1, k, k)
        gains = cm_metric(metric, d_out + _fixed(d_in)) - cm_metric(metric, d_in + d_out)
        gains = gains[np.isfinite(gains)]
        lo, hi = np.quantile(gains, [0.025, 0.975]) if len(gains) else (np.nan, np.nan)
        rows.append(
            {
                "name": name,
                "size": n,
                "errors": errors,
                "share": errors / e_all if e_all else 0.0,
                "error_rate": errors / n if n else None,
                "p_value": float(binom.sf(errors - 1, n, p0)) if n else None,
                "gain": gain,
                "gain_low": float(lo),
                "gain_high": float(hi),
            }
        )
    return rows


def ceiling_metrics(rec: EvaluationRecord) -> tuple[str, ...]:
    """The metrics a ceiling table of this evaluation can be computed for."""
    if rec.task == "regression":
        return REGRESSION_METRICS
    if "probabilities" in rec.columns:
        return (*CM_METRICS, *PROBABILITY_METRICS)
    return CM_METRICS


def ceiling(
    rec: EvaluationRecord,
    store: Store,
    by: str = "tags",
    slices: list[str] | None = None,
    metric: str | None = None,
    seed: int = 0,
    error_threshold: float | None = None,
) -> pd.DataFrame:
    """The ceiling table by ``"tags"`` or ``"slices"`` (the given predicates), sorted by gain.

    Columns: ``tag`` or ``slice``, ``size``, ``errors``, ``share`` (of all errors),
    ``error_rate``, ``p_value`` (error rate above the overall one, one-sided binomial), ``gain``
    (how much better ``metric`` gets if the group's errors were fixed; see the module's
    docstring for what fixed means per metric) and its 95% interval ``gain_low``/``gain_high``.
    ``metric`` defaults to accuracy (RMSE for regression). ``error_threshold`` (regression only):
    the absolute residual above which an example is an error.
    """
    import numpy as np
    import pandas as pd

    from loopml.store import GroupKey

    if by not in ("tags", "slices"):
        raise ValidationError(f"by must be 'tags' or 'slices', not {by!r}")
    if metric is None:
        metric = "rmse" if rec.task == "regression" else "accuracy"
    allowed = ceiling_metrics(rec)
    if metric not in allowed:
        why = (
            " (log loss, ROC AUC and ECE need the evaluation's probabilities)"
            if metric in PROBABILITY_METRICS and rec.task == "classification"
            else ""
        )
        raise ValidationError(
            f"metric must be one of {allowed} for this {rec.task} evaluation, not {metric!r}{why}"
        )
    if error_threshold is not None:
        if rec.task != "regression":
            raise ValidationError(
                "error_threshold defines a regression error; a classification error is a "
                "wrong prediction"
            )
        if (
            isinstance(error_threshold, bool)
            or not isinstance(error_threshold, (int, float))
            or (not error_threshold >= 0 or error_threshold == float("inf"))
        ):
            raise ValidationError(
                f"error_threshold is an absolute residual >= 0, got {error_threshold!r}"
            )
    label = "tag" if by == "tags" else "slice"
    if metric in CM_METRICS:
        ev = store.evaluations
        k = len(rec.classes)
        index = {c: i for i, c in enumerate(rec.classes)}
        keys = [GroupKey("truth"), GroupKey("prediction")]
        cm_all = _matrix(ev.grouped_counts(rec.id, [keys])[0], index, k, None)[None]
        n_all = cm_all.sum()
        p0 = float((n_all - np.trace(cm_all)) / n_all) if n_all else 0.0
        if by == "tags":
            table = ev.grouped_counts(rec.id, [keys], by_tag=True)[0]
            # By name: each group draws its bootstrap from one generator, in this order.
            groups = dict(sorted(_matrix(table, index, k, "tag").items()))
        else:
            groups = {}
            for predicate in slices or []:
                table = ev.grouped_counts(rec.id, [keys], where=predicate)[0]
                groups[predicate] = _matrix(table, index, k, None).get(None, np.zeros((k, k)))
        rows = _gain_rows(groups, cm_all, metric, p0, seed)
        threshold = None
    else:
        rows, p0, n_all, threshold = _row_gains(
            rec, store, by, slices, metric, seed, error_threshold
        )
    frame = pd.DataFrame(rows, columns=["name", *CEILING_COLUMNS]).rename(columns={"name": label})
    frame = frame.sort_values(["gain", label], ascending=[False, True]).reset_index(drop=True)
    frame.attrs.update({"metric": metric, "overall_error_rate": p0, "rows": int(n_all)})
    if threshold is not None:
        frame.attrs["error_threshold"] = threshold
    return frame


def _group_masks(
    rec: EvaluationRecord, store: Store, by: str, slices: list[str] | None, ids: pa.Array
) -> dict[str, np.ndarray]:
    """Each tag's (or slice's) rows as a mask over ``ids``, the rows' order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ev = store.evaluations
    members: dict[str, pa.Array] = {}
    if by == "tags":
        for t in ev.tags(rec.id):
            members[t.name] = pa.array(ev.tag_items(rec.id, t.name), pa.string())
    else:
        for predicate in slices or []:
            members[predicate] = ev.read_rows(rec.id, predicate, columns=["id"])["id"]
    out = {}
    for name, m in members.items():
        value_set = m.combine_chunks() if isinstance(m, pa.ChunkedArray) else m
        found = pc.is_in(ids, value_set=value_set.cast(pa.string()))
        out[name] = found.to_numpy(zero_copy_only=False).astype(bool)
    return out


def _row_gains(
    rec: EvaluationRecord,
    store: Store,
    by: str,
    slices: list[str] | None,
    metric: str,
    seed: int,
    error_threshold: float | None,
) -> tuple[list[dict[str, Any]], float, int, float | None]:
    """The ceiling rows of a row-level metric: the metric recomputed with each group's errors
    fixed, with a paired bootstrap interval."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from scipy.stats import binom

    from loopml.analysis._metrics import _row_samples

    rng = np.random.default_rng(seed)
    threshold: float | None = None
    if rec.task == "regression":
        table = store.evaluations.read_rows(rec.id, columns=["id", "truth", "error"])
        truth = table["truth"].to_numpy().astype(np.float64)
        err = table["error"].to_numpy().astype(np.float64)
        threshold = (
            float(error_threshold)
            if error_threshold is not None
            else float(np.quantile(np.abs(err), DEFAULT_ERROR_QUANTILE))
        )
        wrong = np.abs(err) > threshold
    else:
        table = store.evaluations.read_rows(
            rec.id, columns=["id", "truth", "prediction", "probabilities"]
        )
        classes = pa.array(list(rec.classes), pa.string())
        truth = pc.index_in(table["truth"], value_set=classes).to_numpy().astype(np.int64)
        pred = pc.index_in(table["prediction"], value_set=classes).to_numpy().astype(np.int64)
        k = len(rec.classes)
        flat = table["probabilities"].combine_chunks().flatten()
        probs = flat.to_numpy(zero_copy_only=False).reshape(-1, k).astype(np.float64)
        wrong = truth != pred
    n = len(truth)
    ids = table["id"]
    masks = _group_masks(rec, store, by, slices, ids)
    e_all = int(wrong.sum())
    p0 = e_all / n if n else 0.0
    idx, scale, _note = _row_samples(n, rng)
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0

    def value(fixed: np.ndarray | None) -> tuple[float, np.ndarray]:
        """The metric with the rows of ``fixed`` fixed (None: as they are): on all rows, and
        per bootstrap draw."""
        if rec.task == "regression":
            e = err if fixed is None else np.where(fixed, 0.0, err)
            sq = e**2
            if metric == "rmse":
                return float(np.sqrt(sq.mean())), np.sqrt(sq[idx].mean(-1))
            if metric == "mae":
                ab = np.abs(e)
                return float(ab.mean()), ab[idx].mean(-1)
            return float(1 - sq.mean() / truth.var()), 1 - sq[idx].mean(-1) / truth[idx].var(-1)
        p = probs
        if fixed is not None:
            # The fixed errors' probabilities of their true and predicted class swap places.
            rows = np.flatnonzero(fixed)
            p = probs.copy()
            p[rows, truth[rows]] = probs[rows, pred[rows]]
            p[rows, pred[rows]] = probs[rows, truth[rows]]
        if metric == "log_loss":
            losses = -np.log(np.clip(p[np.arange(n), truth], 1e-15, 1.0))
            return float(losses.mean()), losses[idx].mean(-1)
        found = _roc_auc(truth, p, idx) if metric == "roc_auc" else _ece(truth, p, idx)
        assert found[1] is not None  # idx given: the draws are computed
        return found[0], found[1]

    base, base_draws = value(None)
    rows = []
    for name, mask in masks.items():
        size = int(mask.sum())
        fixed = mask & wrong
        errors = int(fixed.sum())
        if errors:
            new, new_draws = value(fixed)
            gain = sign * (new - base)
            d = sign * (new_draws - base_draws)
            d = d[np.isfinite(d)]
        else:
            gain, d = 0.0, np.zeros(N_BOOT)
        if len(d) >= 10 and np.isfinite(gain):
            lo, hi = np.quantile(d - d.mean(), [0.025, 0.975])
            low, high = min(gain + scale * float(lo), gain), max(gain + scale * float(hi), gain)
        else:
            low = high = float("nan")
        rows.append(
            {
                "name": name,
                "size": size,
                "errors": errors,
                "share": errors / e_all if e_all else 0.0,
                "error_rate": errors / size if size else None,
                "p_value": float(binom.sf(errors - 1, size, p0)) if size else None,
                "gain": float(gain),
                "gain_low": float(low),
                "gain_high": float(high),
            }
        )
    return rows, p0, n, threshold
