"""What changed between two dataset versions: items added, removed and changed, by id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from loopml.store import DatasetVersion

__all__ = ["DatasetDiff", "diff_versions"]


@dataclass(frozen=True)
class DatasetDiff:
    """Item ids added in ``b``, removed from ``a``, and changed (with the columns that differ)."""

    a: str
    b: str
    added: list[str]
    removed: list[str]
    changed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def unchanged(self) -> bool:
        """True when the two versions hold the same items."""
        return not (self.added or self.removed or self.changed)


def _differs(a: pd.Series, b: pd.Series) -> pd.Series:
    import numpy as np
    import pandas as pd

    both_na = a.isna().to_numpy() & b.isna().to_numpy()
    try:
        equal = (a.to_numpy() == b.to_numpy()) | both_na
    except (TypeError, ValueError):
        equal = None
    if not isinstance(equal, np.ndarray) or equal.shape != both_na.shape:
        # Arrays or mixed objects do not compare element-wise: compare one by one.
        equal = np.array([_same(x, y) for x, y in zip(a, b, strict=False)]) | both_na
    return pd.Series(~equal, index=a.index)


def _same(x: object, y: object) -> bool:
    try:
        result = x == y
        return bool(result.all()) if hasattr(result, "all") else bool(result)
    except (TypeError, ValueError):
        return False


def diff_versions(a: DatasetVersion, b: DatasetVersion) -> DatasetDiff:
    """Compare ``a`` to ``b`` item by item (by id), every column included."""
    fa = a.to_pandas().set_index("id")
    fb = b.to_pandas().set_index("id")
    added = fb.index.difference(fa.index)
    removed = fa.index.difference(fb.index)
    common = fa.index.intersection(fb.index)
    fa, fb = fa.loc[common], fb.loc[common]
    changed: dict[str, list[str]] = {}
    for col in sorted(set(fa.columns) | set(fb.columns)):
        if col not in fa.columns or col not in fb.columns:
            for i in common:
                changed.setdefault(str(i), []).append(col)
            continue
        mask = _differs(fa[col], fb[col])
        for i in common[mask.to_numpy()]:
            changed.setdefault(str(i), []).append(col)
    return DatasetDiff(
        a.ref,
        b.ref,
        [str(i) for i in added],
        [str(i) for i in removed],
        dict(sorted(changed.items())),
    )
