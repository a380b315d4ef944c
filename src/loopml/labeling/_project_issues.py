"""Suspected label errors among a project's consensus labels, ranked into the review queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.labeling._project_consensus import project_consensus

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from loopml.labeling._handle import ProjectHandle
    from loopml.store import DatasetVersion

__all__ = ["label_issues"]


def _load_probs(p: ProjectHandle, pred_probs: Any, run: str | None, artifact: str) -> np.ndarray:
    import numpy as np

    from loopml.labeling._issues import check_probs

    if (pred_probs is None) == (run is None):
        raise ValidationError("give exactly one of pred_probs=, run= or cv=True")
    if run is not None:
        path = p.store.runs.artifact_file(p.store.runs.resolve_id(run), artifact)
        try:
            pred_probs = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ValidationError(
                f"artifact {artifact!r} of run {run} is not a numpy .npy array: {exc}"
            ) from None
    return check_probs(pred_probs, p.dataset.n_items, len(p.classes))


def _features(dataset: DatasetVersion) -> np.ndarray:
    import numpy as np

    frame = dataset.to_pandas(columns=dataset.inputs)
    numeric = frame.select_dtypes("number")
    if numeric.shape[1] == 0:
        raise ValidationError(
            f"{dataset.ref} has no numeric input columns to cross-validate on; compute out-of-sample "
            "probabilities with your own model and pass pred_probs= (or log them as a run artifact)"
        )
    return np.nan_to_num(numeric.to_numpy(dtype=np.float64))


def label_issues(
    p: ProjectHandle,
    pred_probs: Any = None,
    *,
    run: str | None = None,
    artifact: str = "pred_probs.npy",
    cv: bool = False,
    model: Any = None,
    use_votes: bool = True,
    queue: bool = True,
) -> pd.DataFrame:
    """Suspected label errors among consensus labels, most suspicious first; into the review queue."""
    import numpy as np
    import pandas as pd

    from loopml.labeling._issues import find_label_issues, out_of_sample_probs
    from loopml.store import NewReview

    if p.schema.multi_label:
        raise ValidationError("label issues are found for single-label projects")
    cons, cur, _, _ = project_consensus(p, "majority")
    rows = cons.items
    labels = cons.label
    if cv:
        if pred_probs is not None or run is not None:
            raise ValidationError("give exactly one of pred_probs=, run= or cv=True")
        probs = out_of_sample_probs(_features(p.dataset)[rows], labels, len(p.classes), model)
        origin = "5-fold cross-validated model"
    else:
        probs = _load_probs(p, pred_probs, run, artifact)[rows]
        origin = f"run {run}" if run else "model"
    votes = None
    if use_votes:
        votes = (np.searchsorted(rows, cur["item"]), cur["annotator"], cur["label"])
    found = find_label_issues(labels, probs, votes)
    names = p._ids(rows[found.indices].tolist())
    out = []
    for i in found.indices:
        given, better = p.classes[labels[i]], p.classes[found.suggested[i]]
        q, qb = float(found.quality[i]), float(found.probs[i, found.suggested[i]])
        reason = f"labeled {given!r}, but the {origin}{' and the votes' if votes else ''} give it p={q:.2f}; {better!r} is more likely (p={qb:.2f})"
        out.append(
            {
                "item_idx": int(rows[i]),
                "item_id": names[int(rows[i])],
                "given": given,
                "suggested": better,
                "quality": q,
                "reason": reason,
            }
        )
    if queue:
        detail = ("reason", "given", "suggested", "quality")
        entries = [
            NewReview(r["item_idx"], "label_issue", 1 - r["quality"], {k: r[k] for k in detail})
            for r in out
        ]
        p.store.labeling.reviews.replace_open(p.id, ["label_issue"], entries)
    return pd.DataFrame(out, columns=["item_id", "given", "suggested", "quality", "reason"])
