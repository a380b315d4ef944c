"""The annotators' queues: assigning batches, serving the next item, skipping and undoing.

A queue entry moves from pending to done at most once (a conditional UPDATE), so two tabs of one
annotator never both take the same entry.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from loopml._errors import NotFoundError, ValidationError
from loopml.store._dialect import bulk_upsert
from loopml.store._engine import read, run_write
from loopml.store._labeling_rows import (
    ASSIGNMENT_COLUMNS,
    ASSIGNMENT_STATUS,
    LABEL,
    PENDING,
    SKIPPED,
    count_assignments,
    latest_guideline_version,
    next_batch,
    placeholder,
    require_project,
)
from loopml.store._schema_labeling import annotations as annotations_t
from loopml.store._schema_labeling import assignments, label_items

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy import Engine

__all__ = ["QueueCounts", "QueueEntry", "QueueStore", "assign_in", "check_assign"]

# Why an item was queued: ``label``, ``relabel`` (a new guideline), ``active`` (uncertainty), or
# the step of the loop that sent it (``analysis``, ``drift``...); a short identifier either way.
_REASON = re.compile(r"[a-z][a-z0-9_-]{0,15}")


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A pending entry of an annotator's queue: the item, why it is queued, under which version."""

    id: int
    item_idx: int
    item_id: str
    reason: str
    round: int


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Queue entries by status."""

    pending: int = 0
    done: int = 0
    skipped: int = 0


def check_assign(
    annotator_ids: Sequence[int], overlap: int, limit: int | None, reason: str
) -> None:
    """Check an assignment's arguments before any write (see ``QueueStore.assign``)."""
    n = len(annotator_ids)
    if n == 0:
        raise ValidationError("assign needs at least one annotator id")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 1 <= overlap <= n:
        raise ValidationError(
            f"overlap {overlap!r} must be between 1 and the number of annotators ({n})"
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValidationError(f"limit is a whole number >= 0 or None, got {limit!r}")
    if not isinstance(reason, str) or not _REASON.fullmatch(reason):
        raise ValidationError(
            f"queue reason {reason!r} must be a short identifier (1-16 lowercase letters, "
            "digits, '_' or '-', starting with a letter), e.g. 'label' or 'analysis'"
        )


def assign_in(
    conn: Connection,
    project_id: int,
    annotator_ids: Sequence[int],
    item_idxs: Sequence[int] | None,
    overlap: int,
    limit: int | None,
    reason: str,
) -> tuple[int, int]:
    """Queue a batch inside the caller's write transaction (arguments already checked with
    ``check_assign``), so another store part can record something in the same transaction.
    Returns (batch number, queue entries added)."""
    n = len(annotator_ids)
    now = time.time()
    require_project(conn, project_id)
    round_ = max(latest_guideline_version(conn, project_id), 1)
    batch = next_batch(conn, project_id)
    if item_idxs is None:
        taken = select(assignments.c.item_idx).where(assignments.c.project_id == project_id)
        q = (
            select(label_items.c.idx)
            .where(label_items.c.project_id == project_id, label_items.c.idx.not_in(taken))
            .order_by(label_items.c.idx)
        )
        if limit is not None:
            q = q.limit(limit)
        items = [int(r[0]) for r in conn.execute(q)]
    else:
        items = [int(i) for i in item_idxs][:limit]
    rows = [
        (project_id, annotator_ids[(j + t + batch) % n], idx, round_, batch, reason, PENDING, now)
        for j, idx in enumerate(items)
        for t in range(overlap)
    ]
    before = count_assignments(conn, project_id)
    for start in range(0, len(rows), 50_000):
        bulk_upsert(
            conn,
            assignments,
            ["project_id", "annotator_id", "item_idx", "round"],
            None,
            ASSIGNMENT_COLUMNS,
            rows[start : start + 50_000],
        )
    return batch, count_assignments(conn, project_id) - before


class QueueStore:
    """The annotators' queues; ``store.labeling.queue``. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def assign(
        self,
        project_id: int,
        annotator_ids: Sequence[int],
        item_idxs: Sequence[int] | None = None,
        *,
        overlap: int = 1,
        limit: int | None = None,
        reason: str = "label",
    ) -> tuple[int, int]:
        """Queue items for annotators, each item to ``overlap`` of them (round robin).

        ``item_idxs`` None takes the items no one has been assigned yet, in order, up to
        ``limit``. Returns (batch number, queue entries added); existing entries stay as they are.
        """
        check_assign(annotator_ids, overlap, limit, reason)

        def write(conn: Connection) -> tuple[int, int]:
            return assign_in(conn, project_id, annotator_ids, item_idxs, overlap, limit, reason)

        try:
            return run_write(self._engine, write)
        except IntegrityError:
            raise NotFoundError(
                f"annotator ids {list(annotator_ids)!r} are not all in this project; get them "
                "from store.labeling.annotators.all(project_id)"
            ) from None

    def next(self, project_id: int, annotator_id: int, limit: int = 1) -> list[QueueEntry]:
        """The annotator's next pending entries, oldest first (served by one index range)."""
        q = (
            select(
                assignments.c.id,
                assignments.c.item_idx,
                assignments.c.round,
                assignments.c.reason,
                label_items.c.item_id,
            )
            .join(
                label_items,
                and_(
                    label_items.c.project_id == assignments.c.project_id,
                    label_items.c.idx == assignments.c.item_idx,
                ),
            )
            .where(
                assignments.c.project_id == project_id,
                assignments.c.annotator_id == annotator_id,
                assignments.c.status == PENDING,
            )
            .order_by(assignments.c.id)
            .limit(int(limit))
        )
        with read(self._engine) as conn:
            return [
                QueueEntry(int(r.id), int(r.item_idx), r.item_id, r.reason, int(r.round))
                for r in conn.execute(q)
            ]

    def counts(self, project_id: int, annotator_id: int | None = None) -> QueueCounts:
        """Pending, done and skipped entries (of one annotator, or all)."""
        q = select(assignments.c.status, func.count()).where(assignments.c.project_id == project_id)
        if annotator_id is not None:
            q = q.where(assignments.c.annotator_id == annotator_id)
        with read(self._engine) as conn:
            found = {
                ASSIGNMENT_STATUS[int(status)]: int(n)
                for status, n in conn.execute(q.group_by(assignments.c.status))
            }
        return QueueCounts(**found)

    def skip(self, project_id: int, annotator_id: int, item_idx: int) -> bool:
        """Mark the annotator's pending entry for the item as skipped; False when there was none."""
        stmt = (
            update(assignments)
            .where(
                assignments.c.project_id == project_id,
                assignments.c.annotator_id == annotator_id,
                assignments.c.item_idx == item_idx,
                assignments.c.status == PENDING,
            )
            .values(status=SKIPPED, updated_at=time.time())
        )
        return bool(run_write(self._engine, lambda conn: conn.execute(stmt).rowcount))

    def undo(self, project_id: int, annotator_id: int) -> int | None:
        """Take back the annotator's last label or skip: its queue entry is pending again.

        Returns the item index, or None when there is nothing to undo.
        """

        def write(conn: Connection) -> int | None:
            last = conn.execute(
                select(assignments.c.id, assignments.c.item_idx, assignments.c.reason)
                .where(
                    assignments.c.project_id == project_id,
                    assignments.c.annotator_id == annotator_id,
                    assignments.c.status != PENDING,
                    assignments.c.updated_at.is_not(None),
                )
                .order_by(assignments.c.updated_at.desc(), assignments.c.id.desc())
                .limit(1)
            ).first()
            if last is None:
                return None
            conn.execute(
                delete(annotations_t).where(
                    annotations_t.c.assignment_id == last.id, annotations_t.c.kind == LABEL
                )
            )
            if last.reason == "direct":
                conn.execute(delete(assignments).where(assignments.c.id == last.id))
            else:
                conn.execute(
                    update(assignments)
                    .where(assignments.c.id == last.id)
                    .values(status=PENDING, updated_at=None)
                )
            return int(last.item_idx)

        return run_write(self._engine, write)

    def assigned_items(self, project_id: int) -> np.ndarray:
        """Indices of the items that have any queue entry (sorted, unique)."""
        import numpy as np

        with read(self._engine) as conn:
            sql = (
                f"SELECT DISTINCT item_idx FROM assignments WHERE project_id = {placeholder(conn)}"
            )
            rows = conn.exec_driver_sql(sql, (int(project_id),)).fetchall()
        return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
