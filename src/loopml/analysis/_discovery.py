"""Slice discovery: conjunctions of up to three predicates whose error rate is significantly above
the overall one, found by grouped counts in DuckDB with lattice pruning.

- Level 1 counts every predicate (each value, each numeric bin) of every feature.
- A slice is *expanded* to the next level only if it has at least ``min_size`` rows, its error
  rate is above the overall one at ``alpha`` (one-sided binomial test), and no parent explains
  it; a child is formed only with predicates that themselves reach ``min_size``. Each level is one
  grouped query per column (or column pair) of the expanded parents, never a dense matrix.
- Every counted candidate of ``min_size`` rows is tested (one-sided exact binomial against the
  overall error rate); the p-values are Holm-corrected over all of them.
- A significant slice is dropped when a parent explains it (its error rate is not significantly
  above the rest of the parent), and a parent is dropped when a shown child explains it (the
  parent without the child is not significantly above the overall rate): a sub-slice of a real
  slice does not crowd out the slice itself, nor its parents.
- The rest are ranked by size x excess error (the errors above what the overall rate predicts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.analysis._slices import Predicate, conjunction, features, predicates_of

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from loopml.store import EvaluationRecord, EvaluationRows, Store

__all__ = ["DISCOVERY_COLUMNS", "discover_slices"]

_MAX_RESIDUAL_CHECKS = 40
# Expansion (lattice pruning): a parent's excess over the overall rate and over each of its own
# parents must be significant at this level, and only the top _BEAM parents by excess errors grow.
_EXPAND_ALPHA = 0.01
_BEAM = 20

DISCOVERY_COLUMNS = [
    "slice", "level", "size", "errors", "error_rate", "excess", "p_value", "gain", "score",
]  # fmt: skip


@dataclass
class _Cand:
    preds: tuple[Predicate, ...]
    n: int
    e: int
    p_raw: float = 1.0
    p_adj: float = 1.0


def _key(preds: tuple[Predicate, ...]) -> frozenset[Predicate]:
    return frozenset(preds)


def _binom_sf(e: int, n: int, p0: float) -> float:
    """P(X >= e) for X ~ Binomial(n, p0): the one-sided exact test of an error rate."""
    from scipy.special import bdtrc

    if e <= 0:
        return 1.0
    return float(bdtrc(int(e) - 1, int(n), p0))


def _binom_sf_many(e: np.ndarray, n: np.ndarray, p0: float) -> np.ndarray:
    import numpy as np
    from scipy.special import bdtrc

    e = e.astype(np.int64)
    return np.where(e > 0, bdtrc(np.maximum(e - 1, 0), n.astype(np.int64), p0), 1.0)


def _above(e1: int, n1: int, e2: int, n2: int) -> float:
    """One-sided p-value that rate e1/n1 exceeds e2/n2 (two-proportion z test)."""
    from scipy.special import ndtr

    if n2 <= 0:
        return 1.0  # the child is its whole parent: nothing to add
    if n1 <= 0:
        return 1.0
    p = (e1 + e2) / (n1 + n2)
    if p <= 0 or p >= 1:
        return 1.0
    z = (e1 / n1 - e2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return float(ndtr(-z))


def _holm(ps: list[float]) -> list[float]:
    import numpy as np

    m = len(ps)
    if m == 0:
        return []
    order = np.argsort(ps, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adj[i] = running
    return [float(a) for a in adj]


def discover_slices(
    rec: EvaluationRecord,
    store: Store,
    k: int = 5,
    max_predicates: int = 3,
    min_size: int | None = None,
    alpha: float = 0.05,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """The top ``k`` slices by size x excess error (see the module's docstring).

    Columns: ``slice`` (a predicate in the filter language), ``level``, ``size``, ``errors``,
    ``error_rate``, ``excess`` (error rate above the overall one), ``p_value`` (Holm-corrected),
    ``gain`` (accuracy gained if the slice's errors were fixed) and ``score``.
    """

    if rec.task != "classification":
        raise ValidationError(
            "slice discovery ranks slices by error rate, which needs a classification "
            "evaluation; for regression use Evaluation.slices() (RMSE per slice)"
        )
    if not isinstance(k, int) or k < 1:
        raise ValidationError(f"k must be a whole number >= 1, got {k!r}")
    if max_predicates not in (1, 2, 3):
        raise ValidationError(f"max_predicates must be 1, 2 or 3, got {max_predicates!r}")
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha must be between 0 and 1, got {alpha!r}")
    n_all = rec.n_rows
    if min_size is None:
        min_size = max(10, math.ceil(n_all / 1000))
    if not isinstance(min_size, int) or min_size < 1:
        raise ValidationError(f"min_size must be a whole number >= 1, got {min_size!r}")
    with store.evaluations.rows(rec.id, in_memory=True) as rows:
        return _discover(rec, rows, k, max_predicates, min_size, alpha, columns)


def _score_level(level: list[_Cand], min_size: int, p0: float) -> None:
    """The one-sided binomial p-value of each candidate of a level, in one vectorized call."""
    import numpy as np

    big = [c for c in level if c.n >= min_size]
    if not big:
        return
    e = np.array([c.e for c in big], dtype=np.float64)
    n = np.array([c.n for c in big], dtype=np.float64)
    ps = np.where(e / n > p0, _binom_sf_many(e, n, p0), 1.0)
    for c, p in zip(big, ps, strict=True):
        c.p_raw = float(p)


def _discover(
    rec: EvaluationRecord,
    rows: EvaluationRows,
    k: int,
    max_predicates: int,
    min_size: int,
    alpha: float,
    columns: list[str] | None,
) -> pd.DataFrame:
    import pandas as pd

    n_all = rec.n_rows
    total = rows.grouped_counts([[]])[0].to_pylist()[0]
    e_all = int(total["errors"] or 0)
    if e_all == 0 or n_all == 0:
        return pd.DataFrame(columns=DISCOVERY_COLUMNS)
    p0 = e_all / n_all
    keys = features(rec, rows, columns)
    seen: dict[frozenset[Predicate], _Cand] = {}

    def add(preds: tuple[Predicate, ...], n: int, e: int) -> _Cand | None:
        ck = _key(preds)
        if ck in seen:
            return None
        cand = _Cand(preds, n, e)
        seen[ck] = cand
        return cand

    # Level 1: every predicate.
    level: list[_Cand] = []
    sized: dict[str, set[Any]] = {}  # column -> values that reach min_size
    tables = rows.grouped_counts([[key] for key in keys])
    for key, table in zip(keys, tables, strict=True):
        for r in table.to_pylist():
            if r["k0"] is None:
                continue
            (pred,) = predicates_of(key, [r["k0"]])
            cand = add((pred,), int(r["n"]), int(r["errors"]))
            if cand is not None:
                level.append(cand)
                if cand.n >= min_size:
                    sized.setdefault(key.column, set()).add(pred.value)
    _score_level(level, min_size, p0)

    def expandable(c: _Cand) -> bool:
        if c.n < min_size or c.p_raw >= _EXPAND_ALPHA:
            return False
        for parent in _parents(c):
            pc = seen.get(_key(parent))
            if pc is not None and _above(c.e, c.n, pc.e - c.e, pc.n - c.n) >= _EXPAND_ALPHA:
                return False
        return True

    usable = [key for key in keys if key.column in sized]
    for _depth in range(2, max_predicates + 1):
        # A beam: the expandable parents holding the most excess errors.
        parents = sorted((c for c in level if expandable(c)), key=lambda c: -(c.e - c.n * p0))[
            : max(_BEAM, 2 * k)
        ]
        level = []
        if not parents or not usable:
            break
        # One scan for the whole level: each parent's rows, grouped by every other feature.
        tables = rows.parent_counts([conjunction(c.preds) for c in parents], usable)
        for key, table in zip(usable, tables, strict=True):
            data = table.select(["parent", "k0", "n", "errors"]).to_pydict()
            for pi, value, n, e in zip(
                data["parent"], data["k0"], data["n"], data["errors"], strict=True
            ):
                parent = parents[pi]
                if value is None or value not in sized[key.column]:
                    continue
                if any(p.column == key.column for p in parent.preds):
                    continue
                (pred,) = predicates_of(key, [value])
                cand = add((*parent.preds, pred), int(n), int(e))
                if cand is not None:
                    level.append(cand)
        _score_level(level, min_size, p0)

    tested = [c for c in seen.values() if c.n >= min_size]
    for c, adj in zip(tested, _holm([c.p_raw for c in tested]), strict=True):
        c.p_adj = adj
    significant = [c for c in tested if c.p_adj < alpha]
    # The explanation tests run once per candidate too: Bonferroni keeps chance children out.
    strict = alpha / max(1, len(tested))
    kept = []
    for c in significant:
        explained = False
        for parent in _parents(c):
            pc = seen.get(_key(parent))
            if pc is not None and _above(c.e, c.n, pc.e - c.e, pc.n - c.n) >= strict:
                explained = True
                break
        if not explained:
            kept.append(c)
    kept_keys = {_key(c.preds): c for c in kept}
    candidates = []
    for c in kept:
        children = [
            ch for ck, ch in kept_keys.items() if len(ck) > len(c.preds) and _key(c.preds) < ck
        ]
        if any(
            _binom_sf(c.e - ch.e, c.n - ch.n, p0) >= strict if c.n > ch.n else True
            for ch in children
        ):
            continue  # a child holds this slice's excess error
        candidates.append(c)
    # Greedy, like a set cover: each step shows the candidate whose rows outside the slices
    # already shown hold the most excess error, if that rest is still significantly above the
    # overall rate; two overlapping real slices so do not make a third, mixed one. One scan per
    # step counts every remaining candidate's rest.
    candidates.sort(key=lambda c: (-(c.e - c.n * p0), c.p_adj, conjunction(c.preds)))
    pool = candidates[:_MAX_RESIDUAL_CHECKS]
    shown: list[_Cand] = []
    while pool and len(shown) < k:
        if shown:
            # rest = the candidate minus its overlap with the shown slices (few rows to scan)
            others = " or ".join(f"({conjunction(s.preds)})" for s in shown)
            overlap = rows.counts([conjunction(c.preds) for c in pool], where=others)
            rests = [(c.n - o_n, c.e - o_e) for c, (o_n, o_e) in zip(pool, overlap, strict=True)]
        else:
            rests = [(c.n, c.e) for c in pool]
        best, best_score = None, 0.0
        for c, (n_r, e_r) in zip(pool, rests, strict=True):
            if n_r < min_size or e_r / n_r <= p0 or _binom_sf(e_r, n_r, p0) >= strict:
                continue
            if best is None or e_r - n_r * p0 > best_score:
                best, best_score = c, e_r - n_r * p0
        if best is None:
            break
        shown.append(best)
        pool = [c for c in pool if c is not best]
    shown.sort(key=lambda c: (-(c.e - c.n * p0), c.p_adj, conjunction(c.preds)))
    out = [
        {
            "slice": conjunction(c.preds),
            "level": len(c.preds),
            "size": c.n,
            "errors": c.e,
            "error_rate": c.e / c.n,
            "excess": c.e / c.n - p0,
            "p_value": c.p_adj,
            "gain": c.e / n_all,
            "score": c.e - c.n * p0,
        }
        for c in shown
    ]
    frame = pd.DataFrame(out, columns=DISCOVERY_COLUMNS)
    frame.attrs.update(
        {"overall_error_rate": p0, "tested": len(tested), "min_size": min_size, "rows": n_all}
    )
    return frame


def _parents(c: _Cand) -> list[tuple[Predicate, ...]]:
    if len(c.preds) < 2:
        return []
    return [tuple(p for p in c.preds if p is not drop) for drop in c.preds]
