"""Every schema revision this loopml knows, without importing SQLAlchemy.

Every table change needs an Alembic migration in ``migrations/versions/`` and a new revision
here. A sweep's store process checks a SQLite store's revision before SQLAlchemy is imported.
"""

from __future__ import annotations

__all__ = ["KNOWN_REVISIONS", "SCHEMA_REVISION"]

# Every revision this code knows, oldest first; the last is the one it writes and reads.
# ``_migrate.py`` refuses a store at a revision not listed here (written by a newer loopml).
KNOWN_REVISIONS: tuple[str, ...] = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0007",
    "0008",
    "0009",
)
SCHEMA_REVISION = KNOWN_REVISIONS[-1]
