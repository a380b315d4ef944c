"""A project's consensus labels (reviewers' decisions override the vote), and the ties and
low-agreement items it sends to the review queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.labeling._votes import annotation_arrays

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from loopml.labeling._consensus import Consensus
    from loopml.labeling._handle import ProjectHandle

__all__ = ["consensus", "project_consensus"]


def project_consensus(
    p: ProjectHandle, method: str
) -> tuple[Consensus, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Consensus over current labels; returns it, the current labels, each item's guideline
    version (newest among the votes for the consensus label) and the source per item."""
    import numpy as np

    from loopml.labeling._consensus import current_labels, dawid_skene, majority_vote

    if method not in ("majority", "dawid_skene"):
        raise ValidationError(
            f"consensus method {method!r} is unknown; use 'majority' or 'dawid_skene'"
        )
    cur = current_labels(annotation_arrays(p))
    k = len(p.classes)
    if p.schema.multi_label:
        cons = _multi_label_majority(cur["item"], cur["label"], k)
    elif method == "majority":
        cons = majority_vote(cur["item"], cur["label"], k)
    else:
        cons = dawid_skene(cur["item"], cur["annotator"], cur["label"], k)
    pos = np.searchsorted(cons.items, cur["item"])
    agree = cur["label"] == cons.label[pos]
    version = np.zeros(len(cons.items), dtype=np.int64)
    np.maximum.at(version, pos[agree], cur["version"][agree])
    source = np.full(len(cons.items), method, dtype=object)
    # A reviewer's decision (their newest per item) overrides the vote.
    rev = current_labels(annotation_arrays(p, "review"))
    if len(rev["item"]):
        order = np.lexsort((rev["id"], rev["item"]))
        item, lab, ver = rev["item"][order], rev["label"][order], rev["version"][order]
        last = np.r_[item[1:] != item[:-1], True]
        item, lab, ver = item[last], lab[last], ver[last]
        all_items = np.union1d(cons.items, item)
        cons, version, source = _reindex(cons, version, source, all_items)
        rpos = np.searchsorted(all_items, item)
        cons.label[rpos], version[rpos], source[rpos] = lab, ver, "review"
        cons.tie[rpos] = False
    return cons, cur, version, source


def _reindex(
    cons: Consensus, version: np.ndarray, source: np.ndarray, items: np.ndarray
) -> tuple[Consensus, np.ndarray, np.ndarray]:
    import numpy as np

    from loopml.labeling._consensus import Consensus

    pos = np.searchsorted(items, cons.items)
    n, k = len(items), cons.probs.shape[1]

    def grow(a: np.ndarray, fill: Any) -> np.ndarray:
        out = np.full((n, *a.shape[1:]), fill, dtype=a.dtype)
        out[pos] = a
        return out

    new = Consensus(
        items,
        grow(cons.label, 0),
        grow(cons.agreement, 1.0),
        grow(cons.n_votes, 0),
        grow(cons.tie, False),
        grow(cons.probs, 1.0 / k),
    )
    return new, grow(version, 0), grow(source, "review")


def _multi_label_majority(item: np.ndarray, label: np.ndarray, k: int) -> Consensus:
    """Multi-label: a class is in the consensus set when at least half the votes include it."""
    import numpy as np

    from loopml.labeling._consensus import Consensus

    items, inv = np.unique(item, return_inverse=True)
    n = np.bincount(inv, minlength=len(items)).astype(float)
    share = (
        np.stack(
            [np.bincount(inv, weights=(label >> c) & 1, minlength=len(items)) for c in range(k)], 1
        )
        / n[:, None]
    )
    mask = (share >= 0.5) @ (1 << np.arange(k))
    agreement = np.maximum(share, 1 - share).mean(1)
    tie = (np.isclose(share, 0.5)).any(1) & (n > 1)
    return Consensus(items, mask.astype(np.int64), agreement, n.astype(int), tie, share)


def consensus(p: ProjectHandle, method: str = "majority", *, queue: bool = True) -> pd.DataFrame:
    """Consensus label per labeled item; with ``queue``, ties and items under the project's
    ``min_agreement`` replace the open ``tie``/``low_agreement`` entries of the review queue."""
    import numpy as np
    import pandas as pd

    from loopml.store import NewReview

    cons, _, version, source = project_consensus(p, method)
    names = p._ids(cons.items.tolist())
    frame = pd.DataFrame(
        {
            "item_id": [names[int(i)] for i in cons.items],
            "label": [p.schema.decode(int(v)) for v in cons.label],
            "agreement": cons.agreement,
            "votes": cons.n_votes,
            "tie": cons.tie,
            "guideline_version": version,
            "source": source,
        }
    )
    if queue:
        open_ = (
            (source != "review")
            & (cons.n_votes >= 2)
            & (cons.tie | (cons.agreement < p.min_agreement))
        )
        rows = []
        for i in np.nonzero(open_)[0]:
            votes = {
                c: round(float(s * cons.n_votes[i]), 2)
                for c, s in zip(p.classes, cons.probs[i], strict=False)
                if s > 0
            }
            kind = "tie" if cons.tie[i] else "low_agreement"
            top = ", ".join(f"{c}: {n:g}" for c, n in sorted(votes.items(), key=lambda kv: -kv[1]))
            reason = (
                f"{'tied vote' if cons.tie[i] else f'only {cons.agreement[i]:.0%} agree'} ({top})"
            )
            rows.append(
                NewReview(
                    int(cons.items[i]),
                    kind,
                    float(1 - cons.agreement[i]),
                    {"reason": reason, "votes": votes},
                )
            )
        p.store.labeling.reviews.replace_open(p.id, ["tie", "low_agreement"], rows)
    return frame
