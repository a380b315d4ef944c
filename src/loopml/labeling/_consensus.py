"""Consensus labels: majority vote (ties and low agreement go to review) or Dawid-Skene.

Works on arrays of current labels (one per annotator and item). Dawid-Skene estimates each
annotator's confusion matrix by expectation-maximisation, so a reliable annotator outweighs
two careless ones; every step is a handful of ``bincount`` calls over all annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Consensus", "current_labels", "dawid_skene", "majority_vote"]


@dataclass(frozen=True)
class Consensus:
    """Per item (the ``items`` array, sorted): consensus label, agreement, votes, tie flag."""

    items: np.ndarray
    label: np.ndarray
    agreement: np.ndarray  # share of votes for the consensus label (posterior for Dawid-Skene)
    n_votes: np.ndarray
    tie: np.ndarray
    probs: np.ndarray  # items x classes: vote shares, or Dawid-Skene posteriors


def current_labels(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keep each annotator's newest label per item (the one under the newest guideline version)."""
    import numpy as np

    if len(arrays["item"]) == 0:
        return arrays
    order = np.lexsort((arrays["id"], arrays["version"], arrays["annotator"], arrays["item"]))
    item, ann = arrays["item"][order], arrays["annotator"][order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (item[1:] != item[:-1]) | (ann[1:] != ann[:-1])
    keep = order[last]
    return {k: v[keep] for k, v in arrays.items()}


def _vote_matrix(
    item: np.ndarray, label: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import numpy as np

    items, inv = np.unique(item, return_inverse=True)
    counts = np.bincount(inv * k + label, minlength=len(items) * k).reshape(-1, k).astype(float)
    return items, inv, counts


def majority_vote(item: np.ndarray, label: np.ndarray, k: int) -> Consensus:
    """The most voted class per item; ``tie`` where two classes share the top count."""

    items, _, counts = _vote_matrix(item, label, k)
    n = counts.sum(1)
    best = counts.argmax(1)
    top = counts.max(1)
    tie = (counts == top[:, None]).sum(1) > 1
    return Consensus(items, best, top / n, n.astype(int), tie, counts / n[:, None])


def dawid_skene(
    item: np.ndarray,
    annotator: np.ndarray,
    label: np.ndarray,
    k: int,
    iterations: int = 30,
    tol: float = 1e-6,
) -> Consensus:
    """Dawid-Skene consensus: annotator confusion matrices and class priors by EM."""
    import numpy as np

    items, inv, counts = _vote_matrix(item, label, k)
    annotators, ainv = np.unique(annotator, return_inverse=True)
    n_ann = len(annotators)
    t = counts / counts.sum(1, keepdims=True)  # start from the vote shares
    for _ in range(iterations):
        prior = t.mean(0) + 1e-9
        # pi[a, true, given]: the chance annotator a says ``given`` when the class is ``true``.
        pi = _confusions(ainv, inv, label, t, n_ann, k)
        log_pi = np.log(pi)
        log_t = np.tile(np.log(prior), (len(items), 1))
        for c in range(k):
            log_t[:, c] += np.bincount(inv, weights=log_pi[ainv, c, label], minlength=len(items))
        log_t -= log_t.max(1, keepdims=True)
        new = np.exp(log_t)
        new /= new.sum(1, keepdims=True)
        done = np.abs(new - t).max() < tol
        t = new
        if done:
            break
    best = t.argmax(1)
    tie = (
        np.isclose(np.sort(t, 1)[:, -1], np.sort(t, 1)[:, -2])
        if k > 1
        else np.zeros(len(items), bool)
    )
    return Consensus(items, best, t.max(1), counts.sum(1).astype(int), tie, t)


def _confusions(
    ainv: np.ndarray, inv: np.ndarray, label: np.ndarray, t: np.ndarray, n_ann: int, k: int
) -> np.ndarray:
    import numpy as np

    pi = np.empty((n_ann, k, k))
    for c in range(k):
        pi[:, c, :] = np.bincount(ainv * k + label, weights=t[inv, c], minlength=n_ann * k).reshape(
            n_ann, k
        )
    pi += 0.01  # smoothed so an annotator never rules a class out entirely
    return pi / pi.sum(2, keepdims=True)
