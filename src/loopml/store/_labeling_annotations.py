"""Annotations: labels by annotators, reviewers' decisions, flags with comments.

The database refuses a second label by one annotator for one item under one guideline version
(a unique index), so two writers racing on the same item leave one label and one ConflictError.
"""

from __future__ import annotations

import itertools
import numbers
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopml._errors import ConflictError, NotFoundError, StoreError, ValidationError
from loopml.store._engine import read, run_write
from loopml.store._labeling_rows import (
    DONE,
    LABEL,
    REVIEW,
    latest_guideline_version,
    placeholder,
)
from loopml.store._schema_labeling import annotations as annotations_t
from loopml.store._schema_labeling import annotators, assignments, label_items, label_projects

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy import Engine

__all__ = ["AnnotationRecord", "AnnotationStore", "FlagRecord"]

_KINDS = {"label": LABEL, "review": REVIEW}
_MAX_COMMENT = 5000


@dataclass(frozen=True, slots=True)
class AnnotationRecord:
    """One stored annotation. ``label`` is the class index (a bit mask for multi-label, None for
    a flag without a label); ``kind`` is ``"label"`` (an annotator's) or ``"review"``."""

    id: int
    project_id: int
    item_idx: int
    annotator_id: int
    annotator: str
    label: int | None
    guideline_version: int
    kind: str
    seconds: float | None
    flag: bool
    comment: str | None
    assignment_id: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class FlagRecord:
    """A flagged annotation with its comment."""

    item_idx: int
    label: int | None
    guideline_version: int
    comment: str | None
    annotator: str


def _check(label: int | None, seconds: float | None, flag: bool, comment: str | None) -> None:
    if label is not None and (
        isinstance(label, bool) or not isinstance(label, numbers.Integral) or label < 0
    ):
        raise ValidationError(f"a stored label is a class index (whole number >= 0), got {label!r}")
    if label is None and not flag:
        raise ValidationError("an annotation needs a label, or flag=True with a comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > _MAX_COMMENT):
        raise ValidationError(f"a comment is text of at most {_MAX_COMMENT} characters")
    if seconds is not None and not (
        isinstance(seconds, (int, float))
        and not isinstance(seconds, bool)
        and 0 <= seconds < 86_400
    ):
        raise ValidationError(
            f"seconds spent must be a number between 0 and 86400, got {seconds!r}"
        )


class AnnotationStore:
    """Annotations; ``store.labeling.annotations``. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(
        self,
        project_id: int,
        annotator_id: int,
        item_idx: int,
        label: int | None,
        *,
        version: int | None = None,
        seconds: float | None = None,
        flag: bool = False,
        comment: str | None = None,
    ) -> int:
        """Store one label and close the annotator's queue entry for the item, atomically.

        ``version`` None means the latest guideline. Raises ConflictError when the annotator
        already labeled the item under that version (nothing is stored twice). Returns its id.
        """
        _check(label, seconds, flag, comment)
        label = None if label is None else int(label)
        now = time.time()

        def write(conn: Connection) -> int:
            latest = latest_guideline_version(conn, project_id)
            v = latest if version is None else int(version)
            if latest == 0:
                name = conn.execute(
                    select(label_projects.c.name).where(label_projects.c.id == project_id)
                ).scalar()
                raise ValidationError(
                    f"labeling project {name!r} has no guideline yet; publish one first with "
                    f"`loopml label guidelines publish FILE --project {name} --note 'first version'`"
                )
            if not 1 <= v <= latest:
                raise ValidationError(
                    f"guideline version {version!r} does not exist; versions are 1..{latest}"
                )
            known = conn.execute(
                select(label_items.c.idx).where(
                    label_items.c.project_id == project_id, label_items.c.idx == item_idx
                )
            ).first()
            if known is None:
                raise NotFoundError(
                    f"no item with index {item_idx!r} in this project; get indices from "
                    "store.labeling.projects.item_indices(project_id, item_ids)"
                )
            entry = conn.execute(
                select(assignments.c.id)
                .where(
                    assignments.c.project_id == project_id,
                    assignments.c.annotator_id == annotator_id,
                    assignments.c.item_idx == item_idx,
                    assignments.c.status != DONE,
                )
                .order_by(assignments.c.id)
                .limit(1)
            ).scalar()
            if entry is not None:
                claimed = conn.execute(
                    update(assignments)
                    .where(assignments.c.id == entry, assignments.c.status != DONE)
                    .values(status=DONE, updated_at=now)
                ).rowcount
                if not claimed:
                    raise ConflictError(
                        f"item {item_idx} was labeled by this annotator at the same moment; "
                        "its first label is kept (undo it to change it)"
                    )
            else:  # labeled outside the queue: record a done entry so undo works alike
                entry = conn.execute(
                    insert(assignments).values(
                        project_id=project_id,
                        annotator_id=annotator_id,
                        item_idx=item_idx,
                        round=v,
                        batch=0,
                        reason="direct",
                        status=DONE,
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            return int(
                conn.execute(
                    insert(annotations_t).values(
                        project_id=project_id,
                        item_idx=item_idx,
                        annotator_id=annotator_id,
                        label=label,
                        guideline_version=v,
                        kind=LABEL,
                        seconds=None if seconds is None else float(seconds),
                        flag=bool(flag),
                        comment=comment,
                        assignment_id=entry,
                        created_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )

        try:
            return run_write(self._engine, write)
        except IntegrityError as exc:
            text = str(exc.orig).lower()
            if "unique" in text or "duplicate" in text:
                raise ConflictError(
                    f"this annotator already labeled item {item_idx} under this guideline "
                    "version; undo it first to change the label (the old label is kept until then)"
                ) from None
            if "foreign key" in text:
                raise NotFoundError(
                    f"no annotator with id {annotator_id!r} in this project; add one with "
                    "store.labeling.annotators.add(project_id, [name])"
                ) from None
            raise StoreError(
                f"the annotation of item {item_idx} was refused by the database ({exc.orig}); "
                "nothing was stored"
            ) from exc

    def arrays(self, project_id: int, kind: str = "label") -> dict[str, np.ndarray]:
        """Every annotation with a label as int64 arrays: item, annotator, label, version, id.

        Read straight from the driver cursor: at a million rows SQLAlchemy's per-row processing
        would cost more than the statistics.
        """
        import numpy as np

        if kind not in _KINDS:
            raise ValidationError(f"annotation kind {kind!r} is unknown; use 'label' or 'review'")
        with read(self._engine) as conn:
            mark = placeholder(conn)
            sql = (
                "SELECT item_idx, annotator_id, label, guideline_version, id FROM annotations "
                f"WHERE project_id = {mark} AND kind = {mark} AND label IS NOT NULL"
            )
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, (int(project_id), _KINDS[kind]))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=5 * len(rows))
        cols = flat.reshape(-1, 5).T if len(rows) else np.zeros((5, 0), dtype=np.int64)
        return dict(zip(("item", "annotator", "label", "version", "id"), cols, strict=False))

    def flagged(self, project_id: int) -> list[FlagRecord]:
        """Flagged annotations with their comments, newest first."""
        q = (
            select(
                annotations_t.c.item_idx,
                annotations_t.c.label,
                annotations_t.c.guideline_version,
                annotations_t.c.comment,
                annotators.c.name.label("annotator"),
            )
            .join(annotators, annotators.c.id == annotations_t.c.annotator_id)
            .where(annotations_t.c.project_id == project_id, annotations_t.c.flag.is_(True))
            .order_by(annotations_t.c.id.desc())
        )
        with read(self._engine) as conn:
            return [
                FlagRecord(
                    int(r.item_idx),
                    None if r.label is None else int(r.label),
                    int(r.guideline_version),
                    r.comment,
                    r.annotator,
                )
                for r in conn.execute(q)
            ]

    def of_item(self, project_id: int, item_idx: int) -> list[AnnotationRecord]:
        """Every annotation of one item (labels and decisions), oldest first."""
        q = (
            select(annotations_t, annotators.c.name.label("annotator"))
            .join(annotators, annotators.c.id == annotations_t.c.annotator_id)
            .where(annotations_t.c.project_id == project_id, annotations_t.c.item_idx == item_idx)
            .order_by(annotations_t.c.id)
        )
        kinds = {v: k for k, v in _KINDS.items()}
        with read(self._engine) as conn:
            return [
                AnnotationRecord(
                    id=int(r.id),
                    project_id=int(r.project_id),
                    item_idx=int(r.item_idx),
                    annotator_id=int(r.annotator_id),
                    annotator=r.annotator,
                    label=None if r.label is None else int(r.label),
                    guideline_version=int(r.guideline_version),
                    kind=kinds[int(r.kind)],
                    seconds=r.seconds,
                    flag=bool(r.flag),
                    comment=r.comment,
                    assignment_id=r.assignment_id,
                    created_at=r.created_at,
                )
                for r in conn.execute(q)
            ]
