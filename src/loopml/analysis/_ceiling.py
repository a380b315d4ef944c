"""The ceiling table: for each tag or slice, how much the metric would rise if its errors were fixed.

Fixing a group's errors moves its off-diagonal confusion cells onto the diagonal, so the gain in
any confusion-matrix metric (accuracy, balanced accuracy, macro F1) follows from two matrices:
the group's and the rest's. Its interval is an exact bootstrap of the rows: resampling rows is
drawing the 2 x k x k cell counts from a multinomial.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.analysis._metrics import CM_METRICS, N_BOOT, cm_metric

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from loopml.store import EvaluationRecord, Store

__all__ = ["CEILING_COLUMNS", "ceiling"]

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


def ceiling(
    rec: EvaluationRecord,
    store: Store,
    by: str = "tags",
    slices: list[str] | None = None,
    metric: str = "accuracy",
    seed: int = 0,
) -> pd.DataFrame:
    """The ceiling table by ``"tags"`` or ``"slices"`` (the given predicates), sorted by gain.

    Columns: ``tag`` or ``slice``, ``size``, ``errors``, ``share`` (of all errors),
    ``error_rate``, ``p_value`` (error rate above the overall one, one-sided binomial), ``gain``
    (of ``metric`` if the group's errors were fixed) and its 95% interval ``gain_low``/``gain_high``.
    """
    import numpy as np
    import pandas as pd

    from loopml.store import GroupKey

    if rec.task != "classification":
        raise ValidationError(
            "the ceiling table counts errors, which needs a classification evaluation"
        )
    if metric not in CM_METRICS:
        raise ValidationError(f"metric must be one of {CM_METRICS}, not {metric!r}")
    if by not in ("tags", "slices"):
        raise ValidationError(f"by must be 'tags' or 'slices', not {by!r}")
    ev = store.evaluations
    k = len(rec.classes)
    index = {c: i for i, c in enumerate(rec.classes)}
    keys = [GroupKey("truth"), GroupKey("prediction")]
    cm_all = _matrix(ev.grouped_counts(rec.id, [keys])[0], index, k, None)[None]
    n_all = cm_all.sum()
    p0 = float((n_all - np.trace(cm_all)) / n_all) if n_all else 0.0
    label = "tag" if by == "tags" else "slice"
    if by == "tags":
        table = ev.grouped_counts(rec.id, [keys], by_tag=True)[0]
        groups = _matrix(table, index, k, "tag")
    else:
        groups = {}
        for predicate in slices or []:
            table = ev.grouped_counts(rec.id, [keys], where=predicate)[0]
            groups[predicate] = _matrix(table, index, k, None).get(None, np.zeros((k, k)))
    rows = _gain_rows(groups, cm_all, metric, p0, seed)
    frame = pd.DataFrame(rows, columns=["name", *CEILING_COLUMNS]).rename(columns={"name": label})
    frame = frame.sort_values(["gain", label], ascending=[False, True]).reset_index(drop=True)
    frame.attrs.update({"metric": metric, "overall_error_rate": p0, "rows": int(n_all)})
    return frame
