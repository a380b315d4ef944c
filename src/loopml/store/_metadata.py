"""The one SQLAlchemy ``MetaData`` every capability declares its tables on, and its revision.

Each capability keeps its tables in ``_schema_<capability>.py`` (importing ``metadata`` from
here); ``_schema.py`` imports them all, so code that needs the whole schema (migrations, the
schema test) imports ``_schema`` and nothing registers tables by a side effect of another import.
Every table change needs an Alembic migration in ``migrations/versions/`` and a new revision in
``_revisions.py``.
"""

from __future__ import annotations

from sqlalchemy import MetaData

# The revisions live in ``_revisions`` (no SQLAlchemy), for checks made before it is imported.
from loopml.store._revisions import KNOWN_REVISIONS, SCHEMA_REVISION

metadata = MetaData()

__all__ = ["KNOWN_REVISIONS", "SCHEMA_REVISION", "metadata"]
