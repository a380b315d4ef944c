"""Inter-annotator agreement, vectorised in numpy: Cohen's kappa (pairs), Fleiss' kappa,
Krippendorff's alpha (nominal) overall and per class, and the class pairs confused most.

Input is three integer arrays, one entry per annotation: item, annotator, label (class index).
One pass builds an items x classes count matrix (Fleiss, Krippendorff) and the list of
same-item annotation pairs (Cohen, confusions); nothing loops over annotations in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "AgreementStats",
    "agreement",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairs_within_items",
]


@dataclass(frozen=True)
class AgreementStats:
    """Agreement among the annotations of one guideline version."""

    version: int
    n_annotations: int
    n_items: int  # items with at least two labels (the only ones agreement speaks about)
    percent_agreement: float
    cohen_kappa: float  # mean over annotator pairs that share at least ``min_shared`` items
    fleiss_kappa: float
    krippendorff_alpha: float
    alpha_per_class: dict[str, float]
    confused_pairs: list[
        tuple[str, str, int]
    ]  # (class a, class b, how many label pairs), most first
    confusion: list[list[int]] = field(repr=False)  # symmetric class x class counts of label pairs
    pair_kappas: list[tuple[str, str, int, float]] = field(default_factory=list, repr=False)


def pairs_within_items(item: np.ndarray, *cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j), i before j, of entries that share an item (sorted by item first)."""
    import numpy as np

    order = np.lexsort((*reversed(cols), item)) if cols else np.argsort(item, kind="stable")
    sorted_item = item[order]
    left, right = [], []
    d = 1
    while d < len(order):
        same = sorted_item[:-d] == sorted_item[d:]
        if not same.any():
            break
        pos = np.nonzero(same)[0]
        left.append(order[pos])
        right.append(order[pos + d])
        d += 1
    if not left:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(left), np.concatenate(right)


def _counts(item: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """Items (with two or more labels) x classes matrix of label counts."""
    import numpy as np

    _, inv = np.unique(item, return_inverse=True)
    counts = np.bincount(inv * k + label, minlength=(inv.max() + 1) * k if len(inv) else 0)
    counts = counts.reshape(-1, k).astype(np.float64)
    return counts[counts.sum(1) >= 2]


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from an items x classes count matrix (items may have different numbers of labels)."""

    m = counts.sum(1)
    if len(m) == 0:
        return float("nan")
    p_i = ((counts**2).sum(1) - m) / (m * (m - 1))
    p_j = counts.sum(0) / m.sum()
    p_e = float((p_j**2).sum())
    return float("nan") if p_e >= 1 else float((p_i.mean() - p_e) / (1 - p_e))


def _coincidence(counts: np.ndarray) -> np.ndarray:
    import numpy as np

    w = 1.0 / (counts.sum(1) - 1)
    o = counts.T @ (counts * w[:, None])
    o -= np.diag((counts * w[:, None]).sum(0))
    return o


def krippendorff_alpha(counts: np.ndarray) -> tuple[float, np.ndarray]:
    """Krippendorff's alpha (nominal) and its alpha per class (that class against the rest)."""
    import numpy as np

    if len(counts) == 0:
        return float("nan"), np.full(counts.shape[1], np.nan)
    o = _coincidence(counts)
    n_c = o.sum(1)
    n = n_c.sum()
    d_e = n * n - (n_c**2).sum()
    alpha = float("nan") if d_e == 0 else float(1 - (n - 1) * (n - np.trace(o)) / d_e)
    diag = np.diag(o)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = 1 - (n - 1) * 2 * (n_c - diag) / (n * n - n_c**2 - (n - n_c) ** 2)
    return alpha, per


def agreement(
    item: np.ndarray,
    annotator: np.ndarray,
    label: np.ndarray,
    classes: tuple[str, ...],
    version: int = 0,
    min_shared: int = 5,
) -> AgreementStats:
    """Every statistic for one set of annotations (one label per annotator and item)."""
    import numpy as np

    k = len(classes)
    counts = _counts(item, label, k)
    alpha, per = krippendorff_alpha(counts)
    left, right = pairs_within_items(item, annotator)
    l1, l2 = label[left], label[right]
    a1, a2 = annotator[left], annotator[right]
    confusion = np.bincount(l1 * k + l2, minlength=k * k).reshape(k, k)
    confusion = confusion + confusion.T - np.diag(np.diag(confusion))
    off = np.triu(confusion, 1)
    top = np.argsort(off, axis=None)[::-1]
    confused = [
        (classes[i], classes[j], int(off[i, j]))
        for i, j in zip(*np.unravel_index(top, off.shape), strict=False)
        if off[i, j] > 0
    ][:10]
    pair_kappas = _pair_kappas(a1, a2, l1, l2, k, min_shared)
    kappas = [kp for *_, kp in pair_kappas if np.isfinite(kp)]
    return AgreementStats(
        version=version,
        n_annotations=len(item),
        n_items=len(counts),
        percent_agreement=float((l1 == l2).mean()) if len(l1) else float("nan"),
        cohen_kappa=float(np.mean(kappas)) if kappas else float("nan"),
        fleiss_kappa=fleiss_kappa(counts),
        krippendorff_alpha=alpha,
        alpha_per_class={c: float(v) for c, v in zip(classes, per, strict=False)},
        confused_pairs=confused,
        confusion=confusion.tolist(),
        pair_kappas=[(str(a), str(b), n, kp) for a, b, n, kp in pair_kappas],
    )


def _pair_kappas(
    a1: np.ndarray, a2: np.ndarray, l1: np.ndarray, l2: np.ndarray, k: int, min_shared: int
) -> list[tuple[int, int, int, float]]:
    """Cohen's kappa of every annotator pair, from one bincount over (pair, label, label)."""
    import numpy as np

    if len(a1) == 0:
        return []
    lo, hi = np.minimum(a1, a2), np.maximum(a1, a2)
    # Orient labels by annotator order so each pair's confusion matrix is (first, second).
    swap = a1 > a2
    x, y = np.where(swap, l2, l1), np.where(swap, l1, l2)
    keys, inv = np.unique(lo * (hi.max() + 1) + hi, return_inverse=True)
    conf = (
        np.bincount(inv * k * k + x * k + y, minlength=len(keys) * k * k)
        .reshape(-1, k, k)
        .astype(float)
    )
    n = conf.sum((1, 2))
    po = np.trace(conf, axis1=1, axis2=2) / n
    pe = (conf.sum(2) * conf.sum(1)).sum(1) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(pe < 1, (po - pe) / (1 - pe), np.nan)
    width = hi.max() + 1
    return [
        (int(key // width), int(key % width), int(cnt), float(kp))
        for key, cnt, kp in zip(keys, n, kappa, strict=False)
        if cnt >= min_shared
    ]


def stats_frame(stats: list[AgreementStats]) -> pd.DataFrame:
    """Versions side by side: one row per guideline version."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for s in stats:
        rows.append(
            {
                "version": s.version,
                "annotations": s.n_annotations,
                "items": s.n_items,
                "agreement": s.percent_agreement,
                "cohen_kappa": s.cohen_kappa,
                "fleiss_kappa": s.fleiss_kappa,
                "krippendorff_alpha": s.krippendorff_alpha,
                "top_confusion": f"{s.confused_pairs[0][0]} / {s.confused_pairs[0][1]}"
                if s.confused_pairs
                else "",
            }
        )
    return pd.DataFrame(rows).set_index("version") if rows else pd.DataFrame()
