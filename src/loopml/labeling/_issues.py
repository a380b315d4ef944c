"""Suspected label errors: cleanlab's confident learning, plus the annotators' own votes.

With one label per item this is ``cleanlab.filter.find_label_issues`` on the model's
out-of-sample probabilities, unchanged. Where several annotators labeled an item, their votes are
evidence too: the model's probabilities are multiplied by each vote's likelihood under a simple
annotator model (annotator ``a`` is right with probability ``acc[a]``, estimated from how often
``a`` agrees with the others), and for those items the posterior decides: an item is an issue
when its label is more likely wrong than right. Confident learning keeps deciding the rest with
the model's own per-class thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LabelIssues", "combine_with_votes", "find_label_issues", "out_of_sample_probs"]


@dataclass(frozen=True)
class LabelIssues:
    """Rows (indices into ``labels``) suspected wrong, most suspicious first."""

    indices: np.ndarray
    quality: np.ndarray  # per row: probability of the given label (low = suspicious)
    suggested: np.ndarray  # per row: the most likely class
    probs: np.ndarray  # the probabilities confident learning ran on


def check_probs(pred_probs: np.ndarray, n: int, k: int) -> np.ndarray:
    """Validate predicted probabilities: n x k, finite, rows summing to 1."""
    import numpy as np

    p = np.asarray(pred_probs, dtype=np.float64)
    if p.ndim != 2 or p.shape != (n, k):
        raise ValidationError(
            f"pred_probs must have shape ({n}, {k}) (items x classes), got {p.shape}"
        )
    if not np.isfinite(p).all() or (p < 0).any() or not np.allclose(p.sum(1), 1, atol=1e-3):
        raise ValidationError("pred_probs must be finite, non-negative, and each row must sum to 1")
    return p


def combine_with_votes(
    pred_probs: np.ndarray, row: np.ndarray, annotator: np.ndarray, label: np.ndarray
) -> np.ndarray:
    """Posterior over the true class given the model and annotators' votes (rows with 2+ votes).

    ``row``/``annotator``/``label``: one entry per vote. Rows with fewer than two votes keep the
    model's probabilities: a single vote carries no evidence against itself.
    """
    import numpy as np

    n, k = pred_probs.shape
    if len(row) == 0:
        return pred_probs
    votes_per_row = np.bincount(row, minlength=n)
    multi = votes_per_row[row] >= 2
    row, annotator, label = row[multi], annotator[multi], label[multi]
    if len(row) == 0:
        return pred_probs
    _ann, ainv = np.unique(annotator, return_inverse=True)
    # Each annotator's accuracy: agreement with the other votes on the same row, smoothed.
    counts = np.bincount(row * k + label, minlength=n * k).reshape(n, k)
    others_agree = (counts[row, label] - 1) / np.maximum(votes_per_row[row] - 1, 1)
    acc = (np.bincount(ainv, weights=others_agree) + 1) / (np.bincount(ainv) + 2)
    acc = np.clip(acc, 1.0 / k + 1e-3, 0.99)
    log_right = np.log(acc)[ainv]
    log_wrong = np.log((1 - acc) / (k - 1))[ainv]
    log_post = np.log(np.clip(pred_probs, 1e-6, 1))
    for c in range(k):
        log_post[:, c] += np.bincount(
            row, weights=np.where(label == c, log_right, log_wrong), minlength=n
        )
    log_post -= log_post.max(1, keepdims=True)
    post = np.exp(log_post)
    return post / post.sum(1, keepdims=True)


def find_label_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    votes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> LabelIssues:
    """Rank suspected label errors, most suspicious first.

    Confident learning (cleanlab ``find_label_issues``, ranked by self-confidence) on the model's
    probabilities decides for every item. Where ``votes`` (rows, annotators, labels) give an item
    two or more votes, the posterior of ``combine_with_votes`` decides for that item instead: it
    is an issue when its label is more likely wrong than right given the model and the votes.
    Without votes the result is cleanlab's, unchanged.
    """
    import numpy as np
    from cleanlab.filter import find_label_issues as cl_find

    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if n < 2 or len(np.unique(labels)) < 2:
        raise ValidationError(
            "finding label issues needs at least two labeled items in two classes"
        )
    rows = np.arange(n)
    issues = np.zeros(n, dtype=bool)
    issues[cl_find(labels, pred_probs, return_indices_ranked_by="self_confidence")] = True
    probs = pred_probs
    if votes is not None:
        probs = combine_with_votes(pred_probs, *votes)
        voted = np.bincount(votes[0], minlength=n)[:n] >= 2
        # Confident learning's per-class thresholds stay the model's own; the votes only
        # decide the items they cover.
        issues[voted] = probs[voted, labels[voted]] < 0.5
    quality = probs[rows, labels]
    found = rows[issues]
    order = found[np.argsort(quality[found], kind="stable")]
    return LabelIssues(order, quality, probs.argmax(1), probs)


def out_of_sample_probs(
    features: np.ndarray,
    labels: np.ndarray,
    k: int,
    model: object = None,
    folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-sample probabilities by k-fold cross-validation (default: logistic regression)."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    est = clone(model) if model is not None else LogisticRegression(max_iter=2000)
    smallest = int(np.bincount(labels, minlength=k)[np.bincount(labels, minlength=k) > 0].min())
    folds = max(2, min(folds, smallest))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probs = cross_val_predict(est, features, labels, cv=cv, method="predict_proba")
    out = np.zeros((len(labels), k))
    out[:, np.unique(labels)] = probs  # a class with no labels gets probability 0
    return out
