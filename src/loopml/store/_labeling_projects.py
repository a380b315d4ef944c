"""Labeling projects and their items (``idx``: the item's row in the dataset's Parquet file)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from loopml._errors import ConflictError, NotFoundError, ValidationError
from loopml.store._dialect import bulk_upsert, chunks
from loopml.store._engine import read, run_write
from loopml.store._labeling_rows import LABEL
from loopml.store._schema_labeling import (
    annotations as annotations_t,
)
from loopml.store._schema_labeling import (
    annotators,
    assignments,
    dataset_versions,
    guidelines,
    label_items,
    label_projects,
    reviews,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["LabelProjectRecord", "LabelProjectStore", "LabelProjectSummary"]


@dataclass(frozen=True, slots=True)
class LabelProjectRecord:
    """A labeling project as stored: its dataset version (digest), classes and settings."""

    id: int
    name: str
    dataset: str
    classes: tuple[str, ...]
    multi_label: bool
    overlap: int
    show_others: bool
    min_agreement: float
    created_at: float


@dataclass(frozen=True, slots=True)
class LabelProjectSummary:
    """A project with its item and annotator-label counts (for listings)."""

    project: LabelProjectRecord
    n_items: int
    n_annotations: int


def _record(r: Any) -> LabelProjectRecord:
    return LabelProjectRecord(
        id=int(r.id),
        name=r.name,
        dataset=r.dataset,
        classes=tuple(json.loads(r.classes)),
        multi_label=bool(r.multi_label),
        overlap=int(r.overlap),
        show_others=bool(r.show_others),
        min_agreement=float(r.min_agreement),
        created_at=r.created_at,
    )


def _check_project(
    name: str, classes: Sequence[str], overlap: int, min_agreement: float, item_ids: Sequence[str]
) -> None:
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ValidationError(f"a labeling project name is 1-200 characters, not {name!r}")
    if (
        isinstance(classes, str)
        or not classes
        or not all(isinstance(c, str) and c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise ValidationError(
            f"classes must be distinct non-empty names (e.g. ['cat', 'dog']), got {classes!r}"
        )
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 1:
        raise ValidationError(
            f"overlap is a whole number >= 1 (annotators per item), got {overlap!r}"
        )
    if not 0 <= float(min_agreement) <= 1:
        raise ValidationError(
            f"min_agreement is a share of votes between 0 and 1, got {min_agreement!r}"
        )
    if not item_ids:
        raise ValidationError("a labeling project needs at least one item; the item list is empty")


class LabelProjectStore:
    """Labeling projects and their item index; ``store.labeling.projects``. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self,
        name: str,
        dataset: str,
        classes: Sequence[str],
        item_ids: Sequence[str],
        *,
        multi_label: bool = False,
        overlap: int = 1,
        show_others: bool = False,
        min_agreement: float = 0.6,
    ) -> LabelProjectRecord:
        """Insert a project over dataset version ``dataset`` (a digest) and its items, in order.

        One transaction: a name taken, an unknown dataset or repeated item ids store nothing.
        """
        _check_project(name, classes, overlap, min_agreement, item_ids)
        values = {
            "name": name,
            "dataset": dataset,
            "classes": json.dumps(list(classes)),
            "multi_label": bool(multi_label),
            "overlap": overlap,
            "show_others": bool(show_others),
            "min_agreement": float(min_agreement),
            "created_at": time.time(),
        }

        def write(conn: Connection) -> LabelProjectRecord:
            if conn.execute(
                select(label_projects.c.id).where(label_projects.c.name == name)
            ).first():
                raise ConflictError(
                    f"labeling project {name!r} already exists; open it with "
                    f"loopml.labeling.project({name!r}) or choose another name"
                )
            if not conn.execute(
                select(dataset_versions.c.digest).where(dataset_versions.c.digest == dataset)
            ).first():
                raise NotFoundError(
                    f"no dataset version with digest {dataset!r}; create one with "
                    "loopml.datasets.create(name, data)"
                )
            pid = conn.execute(insert(label_projects).values(**values)).inserted_primary_key[0]  # type: ignore[index]
            cols = ("project_id", "idx", "item_id")
            for start in range(0, len(item_ids), 50_000):
                part = item_ids[start : start + 50_000]
                rows = [(pid, start + i, str(s)) for i, s in enumerate(part)]
                bulk_upsert(conn, label_items, ["project_id", "idx"], None, cols, rows)
            return _record(
                conn.execute(select(label_projects).where(label_projects.c.id == pid)).one()
            )

        try:
            return run_write(self._engine, write)
        except IntegrityError as exc:
            if "item" in str(exc.orig).lower():
                raise ValidationError(
                    "item ids of a labeling project must be unique; the dataset repeats some"
                ) from None
            # Another writer created the same name at the same moment.
            raise ConflictError(
                f"labeling project {name!r} already exists; open it with "
                f"loopml.labeling.project({name!r}) or choose another name"
            ) from None

    def get(self, name: str) -> LabelProjectRecord:
        """A project by name."""
        with read(self._engine) as conn:
            row = conn.execute(select(label_projects).where(label_projects.c.name == name)).first()
        if row is None:
            raise NotFoundError(
                f"no labeling project {name!r}; list them with `loopml label projects` or create "
                f"one with `loopml label create {name} --dataset DATASET`"
            )
        return _record(row)

    def summaries(self) -> list[LabelProjectSummary]:
        """Every project, by name, with its item and annotation counts."""
        n_items = (
            select(func.count())
            .where(label_items.c.project_id == label_projects.c.id)
            .scalar_subquery()
        )
        n_ann = (
            select(func.count())
            .where(annotations_t.c.project_id == label_projects.c.id, annotations_t.c.kind == LABEL)
            .scalar_subquery()
        )
        q = select(label_projects, n_items.label("n_items"), n_ann.label("n_ann")).order_by(
            label_projects.c.name
        )
        with read(self._engine) as conn:
            return [
                LabelProjectSummary(_record(r), int(r.n_items), int(r.n_ann))
                for r in conn.execute(q)
            ]

    def delete(self, project_id: int) -> None:
        """Delete a project and everything in it (annotations, queues, reviews, guidelines)."""

        def write(conn: Connection) -> None:
            for table in (reviews, annotations_t, assignments, annotators, guidelines, label_items):
                conn.execute(delete(table).where(table.c.project_id == project_id))
            conn.execute(delete(label_projects).where(label_projects.c.id == project_id))

        run_write(self._engine, write)

    # -- items ----------------------------------------------------------------------------------
    def item_indices(self, project_id: int, item_ids: Sequence[str]) -> dict[str, int]:
        """Map item ids to their indices (unknown ids are left out)."""
        found: dict[str, int] = {}
        with read(self._engine) as conn:
            for part in chunks([str(i) for i in item_ids]):
                q = select(label_items.c.item_id, label_items.c.idx).where(
                    label_items.c.project_id == project_id, label_items.c.item_id.in_(part)
                )
                found.update({r.item_id: int(r.idx) for r in conn.execute(q)})
        return found

    def item_ids(self, project_id: int, idxs: Sequence[int]) -> dict[int, str]:
        """Map item indices to their ids (unknown indices are left out)."""
        found: dict[int, str] = {}
        with read(self._engine) as conn:
            for part in chunks([int(i) for i in idxs]):
                q = select(label_items.c.idx, label_items.c.item_id).where(
                    label_items.c.project_id == project_id, label_items.c.idx.in_(part)
                )
                found.update({int(r.idx): r.item_id for r in conn.execute(q)})
        return found

    def count_items(self, project_id: int) -> int:
        """How many items the project has."""
        with read(self._engine) as conn:
            return int(
                conn.execute(
                    select(func.count()).where(label_items.c.project_id == project_id)
                ).scalar_one()
            )
