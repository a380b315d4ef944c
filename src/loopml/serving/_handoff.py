"""What ``loopml serve`` hands its workers, so that a worker answers before it opens SQL.

The parent resolves the model (and the shadow) once, checking them, and passes the versions it
found through the environment; a worker started soon after loads those versions from their files
instead of asking the store again. Until it answers, a worker needs from the store only its
settings, its data folder and the prediction log's files, none of which takes SQL:
:class:`WorkerStore` opens the SQL store (importing SQLAlchemy, ~0.25 CPU s) on the first use of
anything else, which is the alias watch and the hooks, once the worker is ready.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from loopml._config import Settings

if TYPE_CHECKING:
    from loopml.registry import ModelVersion
    from loopml.store import PredictionStore, Store

__all__ = ["FLAVORS_ENV", "VERSIONS_ENV", "WorkerStore", "hand_off", "handed_over"]

# The flavors of the models found (comma-separated): each worker imports their libraries first.
FLAVORS_ENV = "LOOPML_SERVE_FLAVORS"
# The versions found, by the reference that named them (JSON), and when they were found.
VERSIONS_ENV = "LOOPML_SERVE_VERSIONS"
# A worker started later than this after the check (uvicorn restarts one that died) resolves
# its references itself: an alias may have moved since.
FRESH_SECONDS = 30.0


def hand_off(versions: dict[str, ModelVersion]) -> dict[str, str]:
    """The environment that hands ``versions`` (reference -> version found) to the workers."""
    found = {ref: _to_json(mv) for ref, mv in versions.items()}
    return {
        FLAVORS_ENV: ",".join(dict.fromkeys(mv.flavor for mv in versions.values())),
        VERSIONS_ENV: json.dumps({"at": time.time(), "versions": found}),
    }


def handed_over(environ: dict[str, str] | None = None) -> dict[str, ModelVersion]:
    """The versions ``loopml serve`` found, if it found them moments ago; else ``{}``."""
    raw = (os.environ if environ is None else environ).get(VERSIONS_ENV)
    if not raw:
        return {}
    data = json.loads(raw)
    if not 0 <= time.time() - float(data["at"]) <= FRESH_SECONDS:
        return {}
    return {ref: _from_json(d) for ref, d in data["versions"].items()}


def _to_json(mv: ModelVersion) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": mv.version,
        "flavor": mv.flavor,
        "task": mv.task,
        "signature": None if mv.signature is None else mv.signature.to_json(),
        "classes": None if mv.classes is None else list(mv.classes),
        "run_id": mv.run_id,
        "description": mv.description,
        "created_by": mv.created_by,
        "created_at": mv.created_at,
        "sha256": mv.sha256,
        "size": mv.size,
        "trusted_types": list(mv.trusted_types),
        "path": str(mv.path),
    }


def _from_json(d: dict[str, Any]) -> ModelVersion:
    from loopml.registry import ModelVersion, Signature

    return ModelVersion(
        name=d["name"],
        version=int(d["version"]),
        flavor=d["flavor"],
        task=d["task"],
        signature=None if d["signature"] is None else Signature.from_json(d["signature"]),
        classes=None if d["classes"] is None else tuple(d["classes"]),
        run_id=d["run_id"],
        description=d["description"],
        created_by=d["created_by"],
        created_at=float(d["created_at"]),
        sha256=d["sha256"],
        size=int(d["size"]),
        trusted_types=tuple(d["trusted_types"]),
        path=Path(d["path"]),
    )


class WorkerStore:
    """A worker's store: its settings, data folder and prediction log's files at once; the SQL
    store, opened on first use, for everything else (any other attribute is the SQL store's).
    Thread-safe."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.data_dir = Path(self.settings.data_dir)
        self._lock = threading.Lock()
        self._sql: Store | None = None

    @functools.cached_property
    def predictions(self) -> PredictionStore:
        """The prediction log's files (they need the data folder only)."""
        from loopml.store import PredictionStore

        return PredictionStore(cast("Store", self))

    def sql(self) -> Store:
        """The SQL store, opened now if it is not open yet."""
        with self._lock:
            if self._sql is None:
                from loopml.store import Store

                self._sql = Store(self.settings)
            return self._sql

    def __getattr__(self, name: str) -> Any:
        # Only for what is not defined above (models, monitors, engine, ...).
        if name.startswith("__") or name in ("_lock", "_sql"):
            raise AttributeError(name)
        return getattr(self.sql(), name)

    def close(self) -> None:
        """Release the SQL store's connections, if it was opened."""
        if self._sql is not None:
            self._sql.close()
