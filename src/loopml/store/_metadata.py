"""The one SQLAlchemy ``MetaData`` every capability declares its tables on, and its revision.

Each capability keeps its tables in ``_schema_<capability>.py`` (importing ``metadata`` from
here); ``_schema.py`` imports them all, so code that needs the whole schema (migrations, the
schema test) imports ``_schema`` and nothing registers tables by a side effect of another import.
Every table change needs an Alembic migration in ``migrations/versions/`` and a new revision here.
"""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()

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
