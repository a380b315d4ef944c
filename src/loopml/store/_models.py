"""The model registry's store surface: versions (files under the data folder), aliases, audit log.

Reached as ``store.models``. A version's file is written first (to a temporary name, renamed into
place, named by its SHA-256), then its row in one transaction that also numbers it; a crash in
between leaves an unreferenced file, never a row without its file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopml._errors import NotFoundError
from loopml.store._dialect import upsert
from loopml.store._engine import read, run_write
from loopml.store._model_lookup import ModelVersionRecord
from loopml.store._model_names import check_alias, check_model_name
from loopml.store._schema_models import model_alias_events, model_aliases, model_versions, models

if TYPE_CHECKING:
    from loopml.store._evaluations import EvaluationRecord
    from loopml.store._store import Store

__all__ = [
    "AliasEvent",
    "ModelRecord",
    "ModelStore",
    "ModelVersionRecord",
]


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A registered model: its version count, latest version and current aliases."""

    name: str
    created_at: float
    n_versions: int
    latest: int | None
    aliases: dict[str, int]


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One move of an alias (``to_version`` None: removed)."""

    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    reason: str | None
    user: str | None
    time: float


class ModelStore:
    """Model versions, aliases and their audit log on one :class:`Store`. Thread-safe."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def directory(self) -> Path:
        """Where model files live: ``<data_dir>/models/<name>/<sha256>.<ext>``."""
        return self._store.data_dir / "models"

    # -- writes --------------------------------------------------------------------------------
    def add_version(
        self,
        name: str,
        source: Path,
        *,
        flavor: str,
        suffix: str,
        task: str,
        signature_json: str | None,
        classes: list[Any] | None,
        trusted_types: list[str],
        run_id: str | None,
        description: str | None,
        created_by: str | None,
    ) -> ModelVersionRecord:
        """Store the file at ``source`` (moved in) as the next version of ``name``."""
        check_model_name(name)
        digest, size = _hash_file(source)
        folder = self.directory / name
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{digest}{suffix}"
        if not target.exists():
            os.replace(source, target)  # same file system: written next to it by the caller
        else:
            source.unlink(missing_ok=True)
        row = {
            "flavor": flavor,
            "file": str(target.relative_to(self._store.data_dir)),
            "sha256": digest,
            "size": size,
            "task": task,
            "signature": signature_json,
            "classes": None if classes is None else json.dumps(classes),
            "trusted_types": json.dumps(sorted(trusted_types)),
            "run_id": run_id,
            "description": description,
            "created_by": created_by,
        }

        def write(conn: Connection) -> int:
            now = time.time()
            conn.execute(upsert(conn, models, ["name"], None), [{"name": name, "created_at": now}])
            # The row lock (PostgreSQL; SQLite's write lock covers it) orders concurrent writers.
            model_id = conn.execute(
                select(models.c.id).where(models.c.name == name).with_for_update()
            ).scalar_one()
            latest = conn.execute(
                select(func.max(model_versions.c.version)).where(
                    model_versions.c.model_id == model_id
                )
            ).scalar()
            number = int(latest or 0) + 1
            conn.execute(
                insert(model_versions).values(
                    model_id=model_id, version=number, created_at=now, **row
                )
            )
            return number

        for attempt in range(5):
            try:
                number = run_write(self._store.engine, write)
                break
            except IntegrityError:
                # Two writers created the model row at the same moment; number after the other.
                if attempt == 4:
                    raise
        return self.get_version(name, number)

    def staging_file(self, name: str) -> Path:
        """A fresh temporary path next to the model folder (same file system, for the rename)."""
        check_model_name(name)
        folder = self.directory / name
        folder.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=".staging-", dir=folder)
        os.close(fd)
        return Path(path)

    def set_alias(
        self, name: str, alias: str, version: int | None, reason: str | None, user: str | None
    ) -> AliasEvent:
        """Point ``alias`` at ``version`` (None removes it), and record the move."""
        check_alias(alias)

        def write(conn: Connection) -> AliasEvent:
            model_id = self._model_id(conn, name)
            if version is not None:
                exists = conn.execute(
                    select(model_versions.c.id).where(
                        model_versions.c.model_id == model_id, model_versions.c.version == version
                    )
                ).first()
                if exists is None:
                    raise NotFoundError(
                        f"model {name!r} has no version {version}; {self._describe(conn, model_id)}"
                    )
            old = conn.execute(
                select(model_aliases.c.version).where(
                    model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                )
            ).scalar()
            if version is None and old is None:
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}; {self._describe(conn, model_id)}"
                )
            now = time.time()
            where = (model_aliases.c.model_id == model_id) & (model_aliases.c.alias == alias)
            if version is None:
                conn.execute(delete(model_aliases).where(where))
            elif old is None:
                conn.execute(
                    insert(model_aliases).values(
                        model_id=model_id, alias=alias, version=version, updated_at=now
                    )
                )
            else:
                conn.execute(
                    update(model_aliases).where(where).values(version=version, updated_at=now)
                )
            conn.execute(
                insert(model_alias_events).values(
                    model_id=model_id,
                    alias=alias,
                    from_version=old,
                    to_version=version,
                    reason=reason,
                    user=user,
                    time=now,
                )
            )
            return AliasEvent(name, alias, old, version, reason, user, now)

        return run_write(self._store.engine, write)

    # -- reads ---------------------------------------------------------------------------------
    def _model_id(self, conn: Connection, name: str) -> int:
        model_id = conn.execute(select(models.c.id).where(models.c.name == name)).scalar()
        if model_id is None:
            known = [r[0] for r in conn.execute(select(models.c.name).order_by(models.c.name))]
            raise NotFoundError(_unknown_model(name, known))
        return int(model_id)

    def _describe(self, conn: Connection, model_id: int) -> str:
        versions = [
            int(r[0])
            for r in conn.execute(
                select(model_versions.c.version)
                .where(model_versions.c.model_id == model_id)
                .order_by(model_versions.c.version)
            )
        ]
        aliases = {
            r.alias: int(r.version)
            for r in conn.execute(select(model_aliases).where(model_aliases.c.model_id == model_id))
        }
        alias_text = ", ".join(f"@{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
        return f"its versions are {versions or 'none'} and its aliases {alias_text}"

    def describe(self, name: str) -> str:
        """A sentence listing a model's versions and aliases (for error messages)."""
        with read(self._store.engine) as conn:
            return self._describe(conn, self._model_id(conn, name))

    def _version_row(self, r: Any, name: str) -> ModelVersionRecord:
        return ModelVersionRecord(
            name=name,
            version=int(r.version),
            flavor=r.flavor,
            path=self._store.data_dir / r.file,
            sha256=r.sha256,
            size=int(r.size),
            task=r.task,
            signature_json=r.signature,
            classes=None if r.classes is None else tuple(json.loads(r.classes)),
            trusted_types=tuple(json.loads(r.trusted_types)),
            run_id=r.run_id,
            description=r.description,
            created_by=r.created_by,
            created_at=float(r.created_at),
        )

    def get_version(self, name: str, version: int) -> ModelVersionRecord:
        """Version ``version`` of ``name``; NotFoundError listing what exists."""
        with read(self._store.engine) as conn:
            model_id = self._model_id(conn, name)
            r = conn.execute(
                select(model_versions).where(
                    model_versions.c.model_id == model_id, model_versions.c.version == version
                )
            ).first()
            if r is None:
                raise NotFoundError(
                    f"model {name!r} has no version {version}; {self._describe(conn, model_id)}"
                )
        return self._version_row(r, name)

    def alias_version(self, name: str, alias: str) -> int:
        """The version ``alias`` points at: one indexed query (servers poll it)."""
        q = (
            select(model_aliases.c.version)
            .join(models, models.c.id == model_aliases.c.model_id)
            .where(models.c.name == name, model_aliases.c.alias == alias)
        )
        with read(self._store.engine) as conn:
            v = conn.execute(q).scalar()
            if v is None:
                model_id = self._model_id(conn, name)
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}; {self._describe(conn, model_id)}; "
                    f"set it with `loopml models alias {name} {alias} VERSION`"
                )
        return int(v)

    def versions(self, name: str) -> list[ModelVersionRecord]:
        """Every version of ``name``, oldest first."""
        with read(self._store.engine) as conn:
            model_id = self._model_id(conn, name)
            rows = conn.execute(
                select(model_versions)
                .where(model_versions.c.model_id == model_id)
                .order_by(model_versions.c.version)
            ).all()
        return [self._version_row(r, name) for r in rows]

    def versions_of_run(self, run_id: str) -> list[ModelVersionRecord]:
        """The model versions registered from run ``run_id``."""
        q = (
            select(model_versions, models.c.name.label("model_name"))
            .join(models, models.c.id == model_versions.c.model_id)
            .where(model_versions.c.run_id == run_id)
            .order_by(models.c.name, model_versions.c.version)
        )
        with read(self._store.engine) as conn:
            return [self._version_row(r, r.model_name) for r in conn.execute(q)]

    def evaluations(self, name: str, version: int) -> list[EvaluationRecord]:
        """Evaluations of version ``version`` of ``name``, newest first.

        An evaluation is of this version when it names it (``model_version="NAME/3"``) or
        when it scored the run the version was registered from.
        """
        from sqlalchemy import or_

        from loopml.store._evaluations import _record
        from loopml.store._schema_evaluations import evaluations

        mv = self.get_version(name, version)
        match = evaluations.c.model_version == f"{mv.name}/{mv.version}"
        if mv.run_id is not None:
            match = or_(match, evaluations.c.run_id == mv.run_id)
        q = select(evaluations).where(match).order_by(evaluations.c.created_at.desc()).limit(100)
        with read(self._store.engine) as conn:
            return [_record(r) for r in conn.execute(q)]

    def aliases(self, name: str) -> dict[str, int]:
        """The aliases of ``name`` and the versions they point at."""
        with read(self._store.engine) as conn:
            model_id = self._model_id(conn, name)
            return {
                r.alias: int(r.version)
                for r in conn.execute(
                    select(model_aliases)
                    .where(model_aliases.c.model_id == model_id)
                    .order_by(model_aliases.c.alias)
                )
            }

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of ``name``'s aliases (or of one alias), newest first."""
        with read(self._store.engine) as conn:
            model_id = self._model_id(conn, name)
            q = select(model_alias_events).where(model_alias_events.c.model_id == model_id)
            if alias is not None:
                q = q.where(model_alias_events.c.alias == alias)
            q = q.order_by(model_alias_events.c.time.desc(), model_alias_events.c.id.desc())
            return [
                AliasEvent(
                    name, r.alias, r.from_version, r.to_version, r.reason, r.user, float(r.time)
                )
                for r in conn.execute(q)
            ]

    def list_models(self) -> list[ModelRecord]:
        """Every registered model, by name."""
        with read(self._store.engine) as conn:
            counts = {
                int(r.model_id): (int(r.n), int(r.latest))
                for r in conn.execute(
                    select(
                        model_versions.c.model_id,
                        func.count().label("n"),
                        func.max(model_versions.c.version).label("latest"),
                    ).group_by(model_versions.c.model_id)
                )
            }
            aliases: dict[int, dict[str, int]] = {}
            for r in conn.execute(select(model_aliases).order_by(model_aliases.c.alias)):
                aliases.setdefault(int(r.model_id), {})[r.alias] = int(r.version)
            rows = conn.execute(select(models).order_by(models.c.name)).all()
        return [
            ModelRecord(
                r.name,
                float(r.created_at),
                counts.get(r.id, (0, 0))[0],
                counts[r.id][1] if r.id in counts else None,
                aliases.get(r.id, {}),
            )
            for r in rows
        ]

    def model_names(self) -> list[str]:
        """The names of every registered model."""
        with read(self._store.engine) as conn:
            return [r[0] for r in conn.execute(select(models.c.name).order_by(models.c.name))]


def _unknown_model(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(known) if known else "none yet (register one with loopml.registry.register)"
    return f"no model named {name!r}{hint}; registered models: {listed}"


def _hash_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size
