"""Reading a project's votes for the analyses: annotations as arrays, annotator names and roles.

Each analysis reads the annotations once as numpy arrays and computes in numpy; only the small
results go back to the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from loopml.labeling._handle import ProjectHandle

__all__ = ["annotation_arrays", "annotator_names", "role_of"]


def annotation_arrays(p: ProjectHandle, kind: str = "label") -> dict[str, np.ndarray]:
    """Every annotation with a label: item, annotator, label, version, id (int64 arrays)."""
    return p.store.labeling.annotations.arrays(p.id, kind)


def annotator_names(p: ProjectHandle) -> dict[int, str]:
    """Annotator id -> name."""
    return {a.id: a.name for a in p.store.labeling.annotators.all(p.id)}


def role_of(p: ProjectHandle, name: str) -> str | None:
    """``"annotator"`` or ``"reviewer"``, or None when ``name`` is not in the project."""
    return next((a.role for a in p.store.labeling.annotators.all(p.id) if a.name == name), None)
