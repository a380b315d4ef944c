"""``ProjectHandle``: what the analyses of a labeling project need from it.

``LabelingProject`` satisfies it; the analysis modules (agreement, consensus, review, issues,
suggestions, snapshots) depend on this contract rather than on the project class, so the project
can call them without an import circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from loopml.labeling._schema import LabelSchema
    from loopml.store import DatasetVersion, Store

__all__ = ["ProjectHandle"]


class ProjectHandle(Protocol):
    """A labeling project as the analyses see it: its store, ids, schema and settings."""

    store: Store
    id: int
    name: str
    schema: LabelSchema
    overlap: int
    min_agreement: float

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, in key order."""
        ...

    @property
    def dataset(self) -> DatasetVersion:
        """The dataset version whose items are labeled."""
        ...

    def _index(self, item_id: str) -> int: ...

    def _ids(self, idxs: Sequence[int]) -> dict[int, str]: ...

    def _annotator(self, name: str) -> int: ...

    def assign(
        self,
        annotators: Sequence[str] | None = None,
        *,
        overlap: int | None = None,
        items: Sequence[str] | None = None,
        limit: int | None = None,
        reason: str = "label",
    ) -> tuple[int, int]:
        """Queue a batch of items for annotators."""
        ...
