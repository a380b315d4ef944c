"""Guideline versions of a labeling project, and the relabel queue a new version creates."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, func, insert, literal, select
from sqlalchemy.exc import IntegrityError

from loopml._errors import ConflictError, ValidationError
from loopml.store._engine import read, run_write
from loopml.store._labeling_rows import (
    ASSIGNMENT_COLUMNS,
    LABEL,
    PENDING,
    count_assignments,
    latest_guideline_version,
    next_batch,
    require_project,
)
from loopml.store._schema_labeling import annotations as annotations_t
from loopml.store._schema_labeling import assignments, guidelines

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["GuidelineRecord", "GuidelineStore"]


@dataclass(frozen=True, slots=True)
class GuidelineRecord:
    """One published guideline version; ``affects`` names the classes its change touches."""

    version: int
    text: str
    note: str
    affects: tuple[str, ...]
    author: str | None
    created_at: float


class GuidelineStore:
    """Guideline versions; ``store.labeling.guidelines``. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def publish(
        self,
        project_id: int,
        text: str,
        note: str,
        *,
        affects: Sequence[int] = (),
        affect_names: Sequence[str] = (),
        author: str | None = None,
        multi_label: bool = False,
    ) -> tuple[int, int]:
        """Publish the next version; queue for relabeling every item whose current labels (made
        under an older version) touch the ``affects`` class indices. Returns (version, queued).

        Two publishers at once get consecutive versions or a ConflictError, never one number twice
        (the version is the primary key).
        """
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("guideline text is empty; write the guideline in Markdown")
        if not isinstance(note, str) or not note.strip():
            raise ValidationError(
                "a guideline version needs a change note saying what changed and why"
            )
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in affects):
            raise ValidationError(
                f"affects lists class indices (whole numbers >= 0), got {affects!r}"
            )
        now = time.time()

        def write(conn: Connection) -> tuple[int, int]:
            require_project(conn, project_id)
            version = latest_guideline_version(conn, project_id) + 1
            conn.execute(
                insert(guidelines).values(
                    project_id=project_id,
                    version=version,
                    text=text,
                    note=note,
                    affects=json.dumps(list(affect_names)),
                    author=author,
                    created_at=now,
                )
            )
            if version == 1 or not affects:
                return version, 0
            return version, _queue_relabel(conn, project_id, version, affects, multi_label, now)

        try:
            return run_write(self._engine, write)
        except IntegrityError:
            pass  # another publisher took this version number at the same moment: take the next
        try:
            return run_write(self._engine, write)
        except IntegrityError:
            raise ConflictError(
                "another guideline version was published at the same moment; "
                "look at the versions (`loopml label guidelines list --project P`) and publish again"
            ) from None

    def versions(self, project_id: int) -> list[GuidelineRecord]:
        """Every guideline version, oldest first."""
        q = (
            select(guidelines)
            .where(guidelines.c.project_id == project_id)
            .order_by(guidelines.c.version)
        )
        with read(self._engine) as conn:
            return [
                GuidelineRecord(
                    int(r.version),
                    r.text,
                    r.note,
                    tuple(json.loads(r.affects)),
                    r.author,
                    r.created_at,
                )
                for r in conn.execute(q)
            ]

    def latest_version(self, project_id: int) -> int:
        """The newest guideline version (0 when none is published)."""
        with read(self._engine) as conn:
            return latest_guideline_version(conn, project_id)


def _queue_relabel(
    conn: Connection,
    project_id: int,
    version: int,
    affects: Sequence[int],
    multi_label: bool,
    now: float,
) -> int:
    a = annotations_t.alias("a")
    b = annotations_t.alias("b")
    # An annotator's current label on an item is the one under the newest version they used.
    newest = (
        select(func.max(b.c.guideline_version))
        .where(
            b.c.project_id == a.c.project_id,
            b.c.kind == LABEL,
            b.c.item_idx == a.c.item_idx,
            b.c.annotator_id == a.c.annotator_id,
        )
        .scalar_subquery()
    )
    if multi_label:
        mask = sum(1 << int(c) for c in affects)
        touches = a.c.label.op("&")(mask) != 0
    else:
        touches = a.c.label.in_([int(c) for c in affects])
    current = and_(a.c.project_id == project_id, a.c.kind == LABEL, a.c.guideline_version == newest)
    affected = select(a.c.item_idx).where(
        current, a.c.guideline_version < version, a.c.label.is_not(None), touches
    )
    batch = next_batch(conn, project_id)
    # Every annotator who labeled an affected item relabels it, so v(n+1) agreement is comparable.
    source = (
        select(
            literal(project_id),
            a.c.annotator_id,
            a.c.item_idx,
            literal(version),
            literal(batch),
            literal("relabel"),
            literal(PENDING),
            literal(now),
        )
        .where(current, a.c.item_idx.in_(affected))
        .distinct()
    )
    before = count_assignments(conn, project_id)
    conn.execute(insert(assignments).from_select(list(ASSIGNMENT_COLUMNS), source))
    return count_assignments(conn, project_id) - before
