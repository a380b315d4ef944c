"""Active learning: which items to label next, by model uncertainty or cleanlab's ActiveLab."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["METHODS", "uncertainty"]

METHODS = ("entropy", "margin", "least_confidence", "activelab")


def uncertainty(pred_probs: np.ndarray, method: str) -> np.ndarray:
    """Per item, higher = more worth labeling (entropy, 1 - margin, or 1 - top probability)."""
    import numpy as np

    p = np.clip(np.asarray(pred_probs, dtype=np.float64), 1e-12, 1)
    if method == "entropy":
        return -(p * np.log(p)).sum(1)
    if method == "margin":
        top2 = np.sort(p, 1)[:, -2:]
        return 1 - (top2[:, 1] - top2[:, 0])
    if method == "least_confidence":
        return 1 - p.max(1)
    raise ValidationError(f"unknown uncertainty method {method!r}; use one of {', '.join(METHODS)}")


def activelab_scores(
    labels_multiannotator: np.ndarray, probs_labeled: np.ndarray, probs_unlabeled: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ActiveLab scores (higher = more worth another label) for labeled and unlabeled items."""
    from cleanlab.multiannotator import get_active_learning_scores

    labeled, unlabeled = get_active_learning_scores(
        labels_multiannotator, probs_labeled, probs_unlabeled
    )
    return (
        1 - labeled,
        1 - unlabeled,
    )  # cleanlab ranks low-first; flip so all methods rank high-first
