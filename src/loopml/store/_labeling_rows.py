"""Status codes of the labeling tables and the row helpers several labeling parts share.

Codes are small integers on disk; the surfaces speak names (``"pending"``, ``"open"``...).
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from loopml._errors import NotFoundError
from loopml.store._schema_labeling import assignments, guidelines, label_projects

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "ASSIGNMENT_STATUS",
    "DISMISSED",
    "DONE",
    "LABEL",
    "OPEN",
    "PENDING",
    "RESOLVED",
    "REVIEW",
    "REVIEW_STATUS",
    "SKIPPED",
    "count_assignments",
    "latest_guideline_version",
    "next_batch",
    "placeholder",
    "require_project",
]

# assignments.status
PENDING, DONE, SKIPPED = 0, 1, 2
ASSIGNMENT_STATUS = {PENDING: "pending", DONE: "done", SKIPPED: "skipped"}
# annotations.kind: an annotator's label, or a reviewer's decision
LABEL, REVIEW = 0, 1
# reviews.status
OPEN, RESOLVED, DISMISSED = 0, 1, 2
REVIEW_STATUS = {OPEN: "open", RESOLVED: "resolved", DISMISSED: "dismissed"}

# The columns an assignment row is written with, in order (bulk inserts and INSERT ... SELECT).
ASSIGNMENT_COLUMNS = (
    "project_id",
    "annotator_id",
    "item_idx",
    "round",
    "batch",
    "reason",
    "status",
    "created_at",
)


def placeholder(conn: Connection) -> str:
    """The driver's bound-parameter marker, for the few reads that skip SQLAlchemy's row
    processing (at a million rows it would cost more than the statistics): ``?`` or ``%s``."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def require_project(conn: Connection, project_id: int) -> None:
    """Refuse a write to a project that does not exist (instead of a foreign-key error)."""
    found = conn.execute(
        select(label_projects.c.id).where(label_projects.c.id == project_id)
    ).first()
    if found is None:
        raise NotFoundError(
            f"no labeling project with id {project_id!r}; get one with "
            "store.labeling.projects.get(name)"
        )


def latest_guideline_version(conn: Connection, project_id: int) -> int:
    """The newest guideline version (0 when none is published)."""
    v = conn.execute(
        select(func.max(guidelines.c.version)).where(guidelines.c.project_id == project_id)
    ).scalar()
    return int(v or 0)


def next_batch(conn: Connection, project_id: int) -> int:
    """The number the next queued batch gets."""
    b = conn.execute(
        select(func.max(assignments.c.batch)).where(assignments.c.project_id == project_id)
    ).scalar()
    return int(b or 0) + 1


def count_assignments(conn: Connection, project_id: int) -> int:
    """How many queue entries the project has (counted: psycopg reports -1 for INSERT ... SELECT)."""
    return int(
        conn.execute(
            select(func.count()).where(assignments.c.project_id == project_id)
        ).scalar_one()
    )
