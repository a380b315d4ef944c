"""Active learning for a project: the next items to label, most informative first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.labeling._votes import annotation_arrays

if TYPE_CHECKING:
    import pandas as pd

    from loopml.labeling._handle import ProjectHandle

__all__ = ["suggest"]


def suggest(
    p: ProjectHandle, pred_probs: Any, *, method: str, limit: int, queue_for: Sequence[str] | None
) -> pd.DataFrame:
    """Items to label next, most informative first; optionally queued for annotators."""
    import numpy as np
    import pandas as pd

    from loopml.labeling._active import METHODS, activelab_scores, uncertainty
    from loopml.labeling._consensus import current_labels
    from loopml.labeling._issues import check_probs

    if method not in METHODS:
        raise ValidationError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    probs = check_probs(pred_probs, p.dataset.n_items, len(p.classes))
    busy = p.store.labeling.queue.assigned_items(p.id)
    candidates = np.setdiff1d(np.arange(p.dataset.n_items), busy)
    cur = current_labels(annotation_arrays(p))
    if method == "activelab" and len(cur["item"]):
        labeled, inv = np.unique(cur["item"], return_inverse=True)
        anns, ainv = np.unique(cur["annotator"], return_inverse=True)
        multi = np.full((len(labeled), len(anns)), np.nan)
        multi[inv, ainv] = cur["label"]
        s_lab, s_unl = activelab_scores(multi, probs[labeled], probs[candidates])
        idx = np.concatenate([labeled, candidates])
        score = np.concatenate([s_lab, s_unl])
        # A labeled item is worth another label only if it is not already queued again.
        keep = np.r_[~np.isin(labeled, np.setdiff1d(busy, labeled)), np.ones(len(candidates), bool)]
        idx, score = idx[keep], score[keep]
    else:
        idx = candidates
        score = uncertainty(probs[candidates], "entropy" if method == "activelab" else method)
    top = np.argsort(-score, kind="stable")[:limit]
    names = p._ids(idx[top].tolist())
    frame = pd.DataFrame({"item_id": [names[int(i)] for i in idx[top]], "score": score[top]})
    if queue_for and len(frame):
        p.assign(
            list(queue_for),
            overlap=min(p.overlap, len(queue_for)),
            items=frame["item_id"].tolist(),
            reason="active",
        )
    return frame
