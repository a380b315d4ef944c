"""What ``loopml serve`` hands its workers, so that a worker answers before it opens SQL.

The parent resolves the model (and the shadow) once, checking them, and passes the versions it
found through the environment; a worker started soon after loads those versions from their files
instead of asking the store again. With several workers the parent checks while they start:
the environment then names a file (:data:`HANDOFF_ENV`) that the parent writes once it has
checked, and each worker waits for it (:func:`received`) when it comes to load its model. Until it answers, a worker needs from the store only its
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

__all__ = [
    "FLAVORS_ENV",
    "HANDOFF_ENV",
    "VERSIONS_ENV",
    "WorkerStore",
    "hand_off",
    "handed_over",
    "received",
    "write_failure",
    "write_hand_off",
]

# The flavors of the models found (comma-separated): each worker imports their libraries first.
FLAVORS_ENV = "LOOPML_SERVE_FLAVORS"
# The versions found, by the reference that named them (JSON), and when they were found.
VERSIONS_ENV = "LOOPML_SERVE_VERSIONS"
# The file the parent writes the two variables above to, as JSON, once it has checked the models
# (when it checks them while its workers start).
HANDOFF_ENV = "LOOPML_SERVE_HANDOFF"
# How long a worker waits for that file before it resolves its references itself.
HANDOFF_WAIT_SECONDS = 60.0
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


def write_hand_off(path: Path, versions: dict[str, ModelVersion]) -> None:
    """Write :func:`hand_off`'s variables to ``path`` whole (a worker never reads half)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(hand_off(versions)))
    os.replace(tmp, path)


def received(
    environ: dict[str, str] | None = None, wait: float = HANDOFF_WAIT_SECONDS
) -> dict[str, str]:
    """``environ`` (default: this process's) with what the parent handed over added: when it
    names a hand-off file, waits up to ``wait`` seconds for the parent to write it.

    Without the file in time (the parent takes long), the worker goes on without: it then
    resolves its references itself. When the parent's check failed (:func:`write_failure`) the
    parent is stopping its workers: this raises ``SystemExit`` so that the worker exits quietly
    (uvicorn's worker defers the SIGTERM it was sent until it serves).
    """
    env = dict(os.environ if environ is None else environ)
    name = env.get(HANDOFF_ENV)
    if not name or VERSIONS_ENV in env:
        return env
    path = Path(name)
    deadline = time.monotonic() + wait
    while True:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            if time.monotonic() >= deadline:
                return env
            time.sleep(0.005)
            continue
        if data.get("failed"):
            raise SystemExit(0)
        env.update(data)
        return env


def write_failure(path: Path) -> None:
    """Tell the workers waiting in :func:`received` that the parent's check failed."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"failed": True}))
    os.replace(tmp, path)


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
