"""The review queue (ties, low agreement, suspected label errors) and reviewers' decisions."""

from __future__ import annotations

import json
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopml._errors import NotFoundError, ValidationError
from loopml.store._dialect import chunks
from loopml.store._engine import read, run_write
from loopml.store._labeling_rows import (
    DISMISSED,
    OPEN,
    RESOLVED,
    REVIEW,
    REVIEW_STATUS,
    require_project,
)
from loopml.store._schema_labeling import annotations as annotations_t
from loopml.store._schema_labeling import label_items, reviews

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["NewReview", "ReviewRecord", "ReviewStore"]

REVIEW_KINDS = ("tie", "low_agreement", "label_issue")
_STATUS_CODES = {v: k for k, v in REVIEW_STATUS.items()}


@dataclass(frozen=True, slots=True)
class NewReview:
    """A review entry to open: the item, why (``kind`` and ``detail``), and how urgent (``score``)."""

    item_idx: int
    kind: str
    score: float
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """A review entry; ``status`` is open, resolved or dismissed, ``resolution`` a class index."""

    id: int
    project_id: int
    item_idx: int
    item_id: str
    kind: str
    score: float
    detail: dict[str, Any]
    status: str
    resolution: int | None
    resolved_by: str | None
    created_at: float
    resolved_at: float | None


def _check_kinds(kinds: Sequence[str]) -> list[str]:
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    for k in kinds:
        if k not in REVIEW_KINDS:
            raise ValidationError(
                f"review kind {k!r} is unknown; use one of {', '.join(REVIEW_KINDS)}"
            )
    return kinds


class ReviewStore:
    """The review queue; ``store.labeling.reviews``. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def replace_open(
        self, project_id: int, kinds: Sequence[str], entries: Sequence[NewReview]
    ) -> int:
        """Replace the open entries of ``kinds`` with ``entries`` in one transaction; items with
        a resolved or dismissed entry of the same kind are not queued again. Returns how many."""
        kinds = _check_kinds(kinds)
        for e in entries:
            if e.kind not in kinds:
                raise ValidationError(
                    f"review entry kind {e.kind!r} is not among the kinds replaced {kinds}"
                )
        rows = [
            {
                "item_idx": int(e.item_idx),
                "kind": e.kind,
                "score": float(e.score),
                "detail": json.dumps(e.detail),
            }
            for e in entries
        ]
        now = time.time()

        def write(conn: Connection) -> int:
            require_project(conn, project_id)
            conn.execute(
                delete(reviews).where(
                    reviews.c.project_id == project_id,
                    reviews.c.kind.in_(kinds),
                    reviews.c.status == OPEN,
                )
            )
            resolved = {
                (int(r.item_idx), r.kind)
                for r in conn.execute(
                    select(reviews.c.item_idx, reviews.c.kind).where(
                        reviews.c.project_id == project_id, reviews.c.status != OPEN
                    )
                )
            }
            fresh = [
                {**r, "project_id": project_id, "status": OPEN, "created_at": now}
                for r in rows
                if (r["item_idx"], r["kind"]) not in resolved
            ]
            for part in chunks(fresh, 5000):
                conn.execute(insert(reviews), part)
            return len(fresh)

        return run_write(self._engine, write)

    def entries(
        self,
        project_id: int,
        kinds: Sequence[str] | None = None,
        status: str | None = "open",
        limit: int | None = None,
    ) -> list[ReviewRecord]:
        """Review entries, highest score first (the most suspicious or most disputed).

        ``status`` None lists every status.
        """
        if status is not None and status not in _STATUS_CODES:
            raise ValidationError(
                f"review status {status!r} is unknown; use open, resolved, dismissed or all"
            )
        q = (
            select(reviews, label_items.c.item_id)
            .join(
                label_items,
                and_(
                    label_items.c.project_id == reviews.c.project_id,
                    label_items.c.idx == reviews.c.item_idx,
                ),
            )
            .where(reviews.c.project_id == project_id)
            .order_by(reviews.c.score.desc(), reviews.c.id)
        )
        if kinds is not None:
            q = q.where(reviews.c.kind.in_(_check_kinds(kinds)))
        if status is not None:
            q = q.where(reviews.c.status == _STATUS_CODES[status])
        if limit is not None:
            q = q.limit(int(limit))
        with read(self._engine) as conn:
            return [
                ReviewRecord(
                    id=int(r.id),
                    project_id=int(r.project_id),
                    item_idx=int(r.item_idx),
                    item_id=r.item_id,
                    kind=r.kind,
                    score=float(r.score),
                    detail=json.loads(r.detail),
                    status=REVIEW_STATUS[int(r.status)],
                    resolution=None if r.resolution is None else int(r.resolution),
                    resolved_by=r.resolved_by,
                    created_at=r.created_at,
                    resolved_at=r.resolved_at,
                )
                for r in conn.execute(q)
            ]

    def resolve(
        self,
        project_id: int,
        item_idx: int,
        reviewer_id: int,
        reviewer: str,
        label: int | None,
        version: int,
    ) -> int:
        """A reviewer's decision on an item under guideline ``version``: stored as a review
        annotation (the labels stay), and every open entry of the item closed (resolved, or
        dismissed when ``label`` is None). Returns the number of entries closed."""
        if label is not None and (
            isinstance(label, bool) or not isinstance(label, numbers.Integral) or label < 0
        ):
            raise ValidationError(f"a decision is a class index (whole number >= 0), got {label!r}")
        label = None if label is None else int(label)
        now = time.time()

        def write(conn: Connection) -> int:
            status = DISMISSED if label is None else RESOLVED
            if label is not None:
                conn.execute(
                    delete(annotations_t).where(
                        annotations_t.c.project_id == project_id,
                        annotations_t.c.item_idx == item_idx,
                        annotations_t.c.annotator_id == reviewer_id,
                        annotations_t.c.guideline_version == version,
                        annotations_t.c.kind == REVIEW,
                    )
                )
                conn.execute(
                    insert(annotations_t).values(
                        project_id=project_id,
                        item_idx=item_idx,
                        annotator_id=reviewer_id,
                        label=label,
                        guideline_version=version,
                        kind=REVIEW,
                        flag=False,
                        created_at=now,
                    )
                )
            return int(
                conn.execute(
                    update(reviews)
                    .where(
                        reviews.c.project_id == project_id,
                        reviews.c.item_idx == item_idx,
                        reviews.c.status == OPEN,
                    )
                    .values(status=status, resolution=label, resolved_by=reviewer, resolved_at=now)
                ).rowcount
            )

        try:
            return run_write(self._engine, write)
        except IntegrityError:
            raise NotFoundError(
                f"no reviewer with id {reviewer_id!r} in project {project_id!r}; add one with "
                "store.labeling.annotators.add(project_id, [name], 'reviewer')"
            ) from None
