"""Create, open and list labeling projects."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.labeling._project import LabelingProject
from loopml.labeling._schema import LabelSchema

if TYPE_CHECKING:
    from loopml.datasets import DatasetVersion
    from loopml.store import Store

__all__ = ["create_project", "list_projects", "project"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    from loopml.tracking import default_session

    return default_session().api_store  # the local store, or the team server's


def create_project(
    name: str,
    dataset: str | DatasetVersion,
    classes: Sequence[Any] | None = None,
    *,
    multi_label: bool = False,
    overlap: int = 1,
    show_others: bool = False,
    min_agreement: float = 0.6,
    store: Store | None = None,
) -> LabelingProject:
    """A new labeling project over the items of a dataset version.

    ``classes``: the class names in key order (default: the dataset's distinct labels).
    ``overlap``: how many annotators label each item by default. ``show_others``: whether an
    annotator may see other annotators' labels. ``min_agreement``: items whose consensus has a
    smaller share of the votes go to the review queue.
    """
    import pyarrow.compute as pc

    from loopml.datasets import get

    store = _store(store)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"project name {name!r} is not allowed; use 1-200 letters, digits, '.', '_' or '-'"
        )
    if not isinstance(overlap, int) or overlap < 1:
        raise ValidationError(
            f"overlap must be a whole number >= 1 (annotators per item), got {overlap!r}"
        )
    if not 0 <= float(min_agreement) <= 1:
        raise ValidationError(
            f"min_agreement is a share of votes between 0 and 1, got {min_agreement!r}"
        )
    version = get(dataset, store=store)
    if classes is None:
        if not version.label:
            raise ValidationError(
                f"{version.ref} has no label column to take classes from; pass classes=[...]"
            )
        labels = version.to_arrow(columns=["label"])["label"]
        classes = sorted(str(c) for c in pc.unique(labels).to_pylist() if c is not None)
    schema = LabelSchema.of(classes, multi_label)
    ids = version.to_arrow(columns=["id"])["id"].to_pylist()
    record = store.labeling.projects.create(
        name,
        version.digest,
        schema.classes,
        ids,
        multi_label=bool(multi_label),
        overlap=overlap,
        show_others=bool(show_others),
        min_agreement=float(min_agreement),
    )
    return LabelingProject(store, record)


def project(name: str, *, store: Store | None = None) -> LabelingProject:
    """Open an existing labeling project by name."""
    store = _store(store)
    return LabelingProject(store, store.labeling.projects.get(name))


def list_projects(*, store: Store | None = None) -> list[dict[str, Any]]:
    """Every labeling project: name, dataset digest, classes, overlap, item and annotation counts."""
    return [
        {
            **dataclasses.asdict(s.project),
            "classes": list(s.project.classes),
            "n_items": s.n_items,
            "n_annotations": s.n_annotations,
        }
        for s in _store(store).labeling.projects.summaries()
    ]
