"""From disagreement to the next guideline: disagreements and flags grouped by class pair.

Each group is a place where the guideline probably does not say enough: the items annotators
labeled differently (as one class pair), the flags they raised on them, their comments, and a few
example items to look at while writing the next version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ProblemGroup", "problem_groups"]


@dataclass
class ProblemGroup:
    """Disagreements and flags about one class pair (``b`` is ``"?"`` for a flag without a dispute)."""

    a: str
    b: str
    n_items: int = 0
    n_flags: int = 0
    examples: list[Any] = field(default_factory=list)  # item ids (indices until named)
    comments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> int:
        """How much this pair needs attention: disputed items plus flags."""
        return self.n_items + self.n_flags


def problem_groups(
    item: np.ndarray,
    label: np.ndarray,
    classes: tuple[str, ...],
    flags: list[dict[str, Any]],
    examples: int = 5,
) -> list[ProblemGroup]:
    """Group disputed items by the class pair in dispute and attach the flags; biggest first.

    ``item``/``label``: current labels (one per annotator and item); ``flags``: flagged
    annotations (``item_idx``, ``label``, ``comment``, ``annotator``) with ``label`` decoded.
    Items are given as indices; the caller turns them into ids.
    """
    import numpy as np

    from loopml.labeling._agreement import pairs_within_items

    k = len(classes)
    groups: dict[tuple[str, str], ProblemGroup] = {}
    # Distinct (item, label), then pairs of distinct labels within an item: one per dispute.
    uniq = np.unique(item * k + label)
    u_item, u_label = uniq // k, uniq % k
    left, right = pairs_within_items(u_item, u_label)
    lo = np.minimum(u_label[left], u_label[right])
    hi = np.maximum(u_label[left], u_label[right])
    pair_items = u_item[left]
    disputed: dict[int, list[tuple[str, str]]] = {}
    for key in np.unique(lo * k + hi):
        i, j = divmod(int(key), k)
        mask = (lo == i) & (hi == j)
        its = np.unique(pair_items[mask])
        g = groups[(classes[i], classes[j])] = ProblemGroup(
            classes[i], classes[j], n_items=len(its)
        )
        g.examples = [int(x) for x in its[:examples]]
        for x in its[:10_000]:
            disputed.setdefault(int(x), []).append((classes[i], classes[j]))
    for f in flags:
        keys = disputed.get(int(f["item_idx"])) or [(str(f.get("label") or "?"), "?")]
        for a, b in keys:
            g = groups.setdefault((a, b), ProblemGroup(a, b))
            g.n_flags += 1
            if f.get("comment"):
                g.comments.append(
                    {
                        "item": int(f["item_idx"]),
                        "annotator": f.get("annotator"),
                        "comment": f["comment"],
                        "version": f.get("guideline_version"),
                    }
                )
    return sorted(groups.values(), key=lambda g: (-g.score, g.a, g.b))
