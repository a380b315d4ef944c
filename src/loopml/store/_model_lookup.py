"""A model version read from a SQLite store with the standard library's ``sqlite3``.

``loopml serve`` checks the model it was asked for while its workers start on the same cores;
opening the SQL store for that one read costs ~0.25 CPU s (SQLAlchemy's imports, the engine),
taken from the workers. :func:`find_model_version` answers the usual case with one query and no
SQLAlchemy: a SQLite store at this loopml's schema revision, and a reference to a version that
exists. Anything else (PostgreSQL, a store at another revision or not created yet, an unknown
name, alias or version, a read that fails) answers ``None``: the caller then asks the SQL store,
which gives its usual answer and its usual errors, so this never changes what a user sees.

This module imports no SQLAlchemy; ``ModelVersionRecord`` lives here for that reason.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from loopml._config import Settings
from loopml._errors import ValidationError
from loopml.store._revisions import SCHEMA_REVISION

__all__ = ["ModelVersionRecord", "find_model_version"]


@dataclass(frozen=True, slots=True)
class ModelVersionRecord:
    """One stored model version, as read from the store (``signature``/``classes`` are JSON)."""

    name: str
    version: int
    flavor: str
    path: Path
    sha256: str
    size: int
    task: str
    signature_json: str | None
    classes: tuple[Any, ...] | None
    trusted_types: tuple[str, ...]
    run_id: str | None
    description: str | None
    created_by: str | None
    created_at: float


# The columns ModelStore reads (``_version_row``), in the order _record takes them.
_COLUMNS = (
    "v.version, v.flavor, v.file, v.sha256, v.size, v.task, v.signature, v.classes, "
    "v.trusted_types, v.run_id, v.description, v.created_by, v.created_at"
)
_BY_ALIAS = (
    f"SELECT {_COLUMNS} FROM model_aliases a JOIN models m ON m.id = a.model_id "
    "JOIN model_versions v ON v.model_id = a.model_id AND v.version = a.version "
    "WHERE m.name = ? AND a.alias = ?"
)
_BY_NUMBER = (
    f"SELECT {_COLUMNS} FROM models m JOIN model_versions v ON v.model_id = m.id "
    "WHERE m.name = ? AND v.version = ?"
)
_LATEST = (
    f"SELECT {_COLUMNS} FROM models m JOIN model_versions v ON v.model_id = m.id "
    "WHERE m.name = ? ORDER BY v.version DESC LIMIT 1"
)


def find_model_version(
    settings: Settings, name: str, alias: str | None = None, version: int | None = None
) -> ModelVersionRecord | None:
    """The version of model ``name`` that ``alias`` points at, or number ``version``, or (with
    neither) its latest, as ``store.models`` would read it; ``None`` when this cannot tell
    without the SQL store (see the module's docstring), never an error of its own."""
    if not isinstance(settings, Settings) or not isinstance(name, str):
        raise ValidationError("find_model_version takes Settings and a model name")
    if alias is not None and version is not None:
        raise ValidationError("find a model version by its alias or by its number, not both")
    path = _sqlite_path(settings)
    if path is None or not path.is_file():
        return None
    args: tuple[str | int, ...]
    if alias is not None:
        query, args = _BY_ALIAS, (name, alias)
    elif version is not None:
        query, args = _BY_NUMBER, (name, int(version))
    else:
        query, args = _LATEST, (name,)
    try:
        # mode=rw: never create a database here (a missing store is the SQL store's to make).
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=5.0)
        try:
            db.execute("PRAGMA query_only=1")
            revision = db.execute("SELECT version_num FROM alembic_version").fetchall()
            if revision != [(SCHEMA_REVISION,)]:
                return None  # another revision: the SQL store migrates it or refuses it
            row = db.execute(query, args).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None  # no such table yet, a locked or damaged file: the SQL store tells
    if row is None:
        return None  # the SQL store's error lists the versions and aliases there are
    try:
        return _record(name, Path(settings.data_dir), row)
    except (TypeError, ValueError):
        return None  # a row the SQL store would not read either: let it say so


def _sqlite_path(settings: Settings) -> Path | None:
    """The SQLite file of ``settings``' store, or ``None`` when it is not a plain SQLite file."""
    if not settings.store_url:
        return Path(settings.data_dir) / "loopml.db"
    url = settings.store_url
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            break
    else:
        return None
    # Query options, escapes and in-memory stores: only SQLAlchemy's URL parsing reads those.
    if not rest or rest == ":memory:" or any(c in rest for c in "?%#"):
        return None
    return Path(rest)


def _record(name: str, data_dir: Path, row: tuple[Any, ...]) -> ModelVersionRecord:
    (number, flavor, file, sha256, size, task, signature, classes, trusted, *rest) = row
    run_id, description, created_by, created_at = rest
    return ModelVersionRecord(
        name=name,
        version=int(number),
        flavor=flavor,
        path=data_dir / file,
        sha256=sha256,
        size=int(size),
        task=task,
        signature_json=signature,
        classes=None if classes is None else tuple(json.loads(classes)),
        trusted_types=tuple(json.loads(trusted)),
        run_id=run_id,
        description=description,
        created_by=created_by,
        created_at=float(created_at),
    )
