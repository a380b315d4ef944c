"""The annotators and reviewers of a labeling project."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, func, select

from loopml._errors import NotFoundError, ValidationError
from loopml.store._dialect import upsert
from loopml.store._engine import read, run_write
from loopml.store._labeling_rows import LABEL, PENDING, require_project
from loopml.store._schema_labeling import annotations as annotations_t
from loopml.store._schema_labeling import annotators, assignments, label_projects

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["AnnotatorRecord", "AnnotatorStats", "AnnotatorStore"]

ROLES = ("annotator", "reviewer")
_NAME = re.compile(r"[\w.@+-]{1,200}")


@dataclass(frozen=True, slots=True)
class AnnotatorRecord:
    """An annotator (or reviewer) of one project."""

    id: int
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class AnnotatorStats:
    """An annotator with their counts: labels made, flags raised, queue entries pending."""

    id: int
    project_id: int
    name: str
    role: str
    created_at: float
    labels: int
    flags: int
    pending: int


class AnnotatorStore:
    """Annotators and reviewers; ``store.labeling.annotators``. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, project_id: int, names: Sequence[str], role: str = "annotator") -> dict[str, int]:
        """Add annotators (existing names are kept as they are); returns name -> id for ``names``."""
        if role not in ROLES:
            raise ValidationError(f"role {role!r} is unknown; use 'annotator' or 'reviewer'")
        if isinstance(names, str):
            names = [names]
        for n in names:
            if not isinstance(n, str) or not _NAME.fullmatch(n):
                raise ValidationError(
                    f"annotator name {n!r} is not allowed; use 1-200 letters, digits, '.', '_', "
                    "'-', '@' or '+'"
                )
        now = time.time()

        def write(conn: Connection) -> dict[str, int]:
            require_project(conn, project_id)
            rows = [
                {"project_id": project_id, "name": n, "role": role, "created_at": now}
                for n in names
            ]
            if rows:
                conn.execute(upsert(conn, annotators, ["project_id", "name"], None), rows)
            q = select(annotators.c.name, annotators.c.id).where(
                annotators.c.project_id == project_id, annotators.c.name.in_(list(names))
            )
            return {r.name: int(r.id) for r in conn.execute(q)}

        return run_write(self._engine, write)

    def stats(self, project_id: int) -> list[AnnotatorStats]:
        """The project's annotators, by name, with their label, flag and pending counts."""
        # Each count names the project too, so it is a range of ``ix_annotations_annotator``.
        mine = and_(
            annotations_t.c.project_id == annotators.c.project_id,
            annotations_t.c.annotator_id == annotators.c.id,
        )
        n_labels = select(func.count()).where(mine, annotations_t.c.kind == LABEL).scalar_subquery()
        n_flags = select(func.count()).where(mine, annotations_t.c.flag.is_(True)).scalar_subquery()
        n_pending = (
            select(func.count())
            .where(
                assignments.c.annotator_id == annotators.c.id,
                assignments.c.project_id == annotators.c.project_id,
                assignments.c.status == PENDING,
            )
            .scalar_subquery()
        )
        q = (
            select(
                annotators,
                n_labels.label("labels"),
                n_flags.label("flags"),
                n_pending.label("pending"),
            )
            .where(annotators.c.project_id == project_id)
            .order_by(annotators.c.name)
        )
        with read(self._engine) as conn:
            return [
                AnnotatorStats(
                    int(r.id),
                    int(r.project_id),
                    r.name,
                    r.role,
                    r.created_at,
                    int(r.labels),
                    int(r.flags),
                    int(r.pending),
                )
                for r in conn.execute(q)
            ]

    def all(self, project_id: int) -> list[AnnotatorRecord]:
        """The project's annotators and reviewers, without counts, by id."""
        q = (
            select(annotators.c.id, annotators.c.name, annotators.c.role)
            .where(annotators.c.project_id == project_id)
            .order_by(annotators.c.id)
        )
        with read(self._engine) as conn:
            return [AnnotatorRecord(int(r.id), r.name, r.role) for r in conn.execute(q)]

    def get(self, project_id: int, name: str) -> AnnotatorRecord:
        """Annotator ``name`` of the project."""
        with read(self._engine) as conn:
            row = conn.execute(
                select(annotators.c.id, annotators.c.name, annotators.c.role).where(
                    annotators.c.project_id == project_id, annotators.c.name == name
                )
            ).first()
            project = conn.execute(
                select(label_projects.c.name).where(label_projects.c.id == project_id)
            ).scalar()
        if row is None:
            raise NotFoundError(
                f"no annotator {name!r} in labeling project {project!r}; add them with "
                f"project.add_annotators([{name!r}]) or "
                f"`loopml label annotators add {name} --project {project}`"
            )
        return AnnotatorRecord(int(row.id), row.name, row.role)
