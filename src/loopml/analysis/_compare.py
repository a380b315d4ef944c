"""Comparison of two evaluations of the same dataset version: examples fixed and broken, per-slice
and per-tag deltas with McNemar's exact test and a paired bootstrap interval, and the regressions:
slices the challenger makes significantly worse (Holm-corrected over the slices compared).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.analysis._metrics import N_BOOT
from loopml.analysis._slices import Predicate, features

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store import EvaluationRecord, Store

__all__ = ["COMPARE_COLUMNS", "Comparison", "compare"]

COMPARE_COLUMNS = [
    "slice", "size", "a_accuracy", "b_accuracy", "delta", "delta_low", "delta_high",
    "fixed", "broken", "p_value", "p_adjusted",
]  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """Champion ``a`` against challenger ``b`` on the same rows.

    ``overall`` is one row like those of ``slices``; ``regressions`` holds the slices where ``b``
    is significantly worse after the Holm correction.
    """

    a: str
    b: str
    overall: dict[str, Any]
    slices: pd.DataFrame
    tags: pd.DataFrame
    regressions: pd.DataFrame

    @property
    def fixed(self) -> int:
        """Examples ``a`` got wrong and ``b`` got right."""
        return int(self.overall["fixed"])

    @property
    def broken(self) -> int:
        """Examples ``a`` got right and ``b`` got wrong."""
        return int(self.overall["broken"])


def mcnemar(fixed: int, broken: int) -> float:
    """McNemar's exact two-sided p-value on the discordant pairs."""
    from scipy.stats import binom

    m = fixed + broken
    if m == 0:
        return 1.0
    return float(min(1.0, 2 * binom.cdf(min(fixed, broken), m, 0.5)))


def _row(name: str, r: dict[str, Any], rng: Any) -> dict[str, Any]:
    import numpy as np

    n = int(r["n"] or 0)
    if n == 0:
        return {"slice": name, "size": 0} | {c: None for c in COMPARE_COLUMNS[2:]}
    fixed, broken = int(r["fixed"]), int(r["broken"])
    a_err, b_err = int(r["a_errors"]), int(r["b_errors"])
    delta = (fixed - broken) / n
    # Paired bootstrap: resampling rows draws the (fixed, broken, other) counts from a multinomial.
    draws = rng.multinomial(n, [fixed / n, broken / n, 1 - (fixed + broken) / n], size=N_BOOT)
    deltas = (draws[:, 0] - draws[:, 1]) / n
    lo, hi = np.quantile(deltas, [0.025, 0.975])
    return {
        "slice": name,
        "size": n,
        "a_accuracy": 1 - a_err / n,
        "b_accuracy": 1 - b_err / n,
        "delta": delta,
        "delta_low": float(lo),
        "delta_high": float(hi),
        "fixed": fixed,
        "broken": broken,
        "p_value": mcnemar(fixed, broken),
    }


def _frame(rows: list[dict[str, Any]], label: str) -> pd.DataFrame:
    import pandas as pd

    from loopml.analysis._discovery import _holm

    frame = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    if not frame.empty:
        ok = frame["p_value"].notna()
        frame.loc[ok, "p_adjusted"] = _holm(frame.loc[ok, "p_value"].astype(float).tolist())
    return frame.rename(columns={"slice": label})


def compare(
    a: EvaluationRecord,
    b: EvaluationRecord,
    store: Store,
    slices: list[str] | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> Comparison:
    """Compare evaluation ``b`` (challenger) with ``a`` (champion) on the same rows.

    Slices: every single-predicate slice of ``a``'s features plus the predicates given.
    """
    import numpy as np
    import pandas as pd

    if a.task != "classification" or b.task != "classification":
        raise ValidationError("comparison counts fixed and broken examples: classification only")
    if a.id == b.id:
        raise ValidationError("compare two different evaluations, not one with itself")
    if a.n_rows != b.n_rows:
        raise ValidationError(
            f"the evaluations score different rows ({a.n_rows} and {b.n_rows}); compare "
            "evaluations of the same dataset version and split"
        )
    rng = np.random.default_rng(seed)
    with store.evaluations.rows(a.id, b.id) as pair:
        keys = features(a, pair)
        # The overall counts and every slice's in one join of the two evaluations.
        total, *tables = pair.paired_counts([[], *([k] for k in keys)])
        overall = _row("all", total.to_pylist()[0], rng)
        overall["p_adjusted"] = overall["p_value"]
        given = [pair.paired_counts([[]], where=p)[0].to_pylist()[0] for p in slices or []]
        tag_table = pair.paired_counts([[]], by_tag=True)[0]
    rows = []
    for key, table in zip(keys, tables, strict=True):
        # In value order: DuckDB returns groups in any order, and each row draws its bootstrap
        # from the one generator, so a fixed order makes the intervals reproducible.
        values = [r for r in table.to_pylist() if r["k0"] is not None]
        for r in sorted(values, key=lambda r: r["k0"]):
            rows.append(_row(str(Predicate(key, r["k0"])), r, rng))
    for predicate, r in zip(slices or [], given, strict=True):
        rows.append(_row(predicate, r, rng))
    slice_frame = _frame(rows, "slice")
    tag_rows = [
        _row(r["tag"], r, rng) for r in sorted(tag_table.to_pylist(), key=lambda r: r["tag"])
    ]
    tag_frame = _frame(tag_rows, "tag")
    worse = (
        slice_frame[
            (slice_frame["delta"].astype(float) < 0)
            & (slice_frame["p_adjusted"].astype(float) < alpha)
        ]
        if not slice_frame.empty
        else slice_frame
    )
    regressions = worse.sort_values("delta").reset_index(drop=True)
    slice_frame = slice_frame.sort_values("delta").reset_index(drop=True)
    return Comparison(a.id, b.id, overall, slice_frame, tag_frame, pd.DataFrame(regressions))
