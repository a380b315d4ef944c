"""The whole schema: every capability's tables, declared on the one ``metadata``.

Add a capability's ``_schema_<capability>.py`` to the imports below; nothing else needs it.
"""

from __future__ import annotations

from loopml.store import (
    _schema_evaluations,
    _schema_labeling,
    _schema_models,
    _schema_monitors,
    _schema_runs,
    _schema_sweeps,
    _schema_users,
)
from loopml.store._metadata import KNOWN_REVISIONS, SCHEMA_REVISION, metadata

# The modules whose tables make up the schema (named so the imports above are used).
CAPABILITY_SCHEMAS = (
    _schema_runs,
    _schema_sweeps,
    _schema_labeling,
    _schema_evaluations,
    _schema_models,
    _schema_monitors,
    _schema_users,
)

__all__ = ["CAPABILITY_SCHEMAS", "KNOWN_REVISIONS", "SCHEMA_REVISION", "metadata"]
