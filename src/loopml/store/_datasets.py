"""The datasets store surface: versions (metadata rows + one Parquet file each) and their lineage.

A version is named by the SHA-256 of its content; its items live in one read-only Parquet file
under ``data_dir/datasets/<2 hex>/<digest>.parquet``. The rows say which name and number the
version has, which runs read it, and where it came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from loopml._errors import ConflictError, NotFoundError, ValidationError
from loopml.store._dataset_rows import ItemReader
from loopml.store._dataset_version import DatasetVersion
from loopml.store._dialect import upsert
from loopml.store._engine import read, run_write
from loopml.store._schema_labeling import dataset_usage, dataset_versions, datasets
from loopml.store._schema_runs import projects, runs

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Engine

__all__ = ["DatasetStore", "DatasetUse", "DatasetVersion"]

# Small row groups let one item be read without scanning the file (the annotator queue).
_ROW_GROUP = 4096
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class DatasetUse:
    """A run that read a dataset version: the lineage of a version."""

    id: str
    name: str | None
    status: str
    project: str
    created_at: float


def _table_digest(table: pa.Table) -> str:
    """SHA-256 of the table's Arrow IPC stream: the same content gives the same digest."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _versions_query() -> Any:
    return select(dataset_versions, datasets.c.name).join(
        datasets, datasets.c.id == dataset_versions.c.dataset_id
    )


class DatasetStore:
    """Dataset versions and lineage in one store; reached as ``store.datasets``.

    Thread-safe: every write is one transaction, and a version's file is written under a
    temporary name and renamed, so a reader never sees half a file.
    """

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self._engine = engine
        self._data_dir = data_dir

    # -- files ----------------------------------------------------------------------------------
    def file(self, digest: str) -> Path:
        """Where the Parquet file of version ``digest`` lives (two-level fan-out by digest)."""
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
            raise ValidationError(
                f"a dataset digest is 64 lowercase hex digits, not {digest!r}; "
                "get one from loopml.datasets.get('name@N').digest"
            )
        return self._data_dir / "datasets" / digest[:2] / f"{digest}.parquet"

    def _version(self, r: Any) -> DatasetVersion:
        cols = json.loads(r.columns)
        return DatasetVersion(
            name=r.name,
            number=int(r.number),
            digest=r.digest,
            n_items=int(r.n_items),
            inputs=list(cols.get("inputs", [])),
            metadata=list(cols.get("metadata", [])),
            label=cols.get("label"),
            types=dict(cols.get("types", {})),
            splits=json.loads(r.splits),
            parent=r.parent,
            note=r.note,
            source=json.loads(r.source) if r.source else {},
            created_at=r.created_at,
            path=self.file(r.digest),
        )

    # -- writes ---------------------------------------------------------------------------------
    def add_version(
        self,
        name: str,
        table: pa.Table,
        roles: dict[str, Any],
        source: dict[str, Any],
        note: str | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Store ``table`` (``id`` and ``split`` first) as the next version of dataset ``name``.

        Content-addressed and idempotent: the same content under the same name returns the
        existing version (and False); under another name it is a ConflictError.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not isinstance(table, pa.Table) or table.column_names[:2] != ["id", "split"]:
            raise ValidationError(
                "a dataset table is a pyarrow Table whose first columns are 'id' and 'split'; "
                "build one with loopml.datasets.create(name, data)"
            )
        digest = _table_digest(table)
        path = self.file(digest)
        if not path.exists():
            # Write beside the target then rename: a reader never sees a half-written version.
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{digest}.{uuid.uuid4().hex}.tmp")
            try:
                pq.write_table(table, tmp, compression="zstd", row_group_size=_ROW_GROUP)
                os.chmod(tmp, 0o444)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        splits = dict(sorted(Counter(table["split"].to_pylist()).items()))
        return self._register(name, digest, table.num_rows, roles, splits, note, source)

    def _register(
        self,
        name: str,
        digest: str,
        n_items: int,
        columns: dict[str, Any],
        splits: dict[str, int],
        note: str | None,
        source: dict[str, Any],
    ) -> tuple[DatasetVersion, bool]:
        def write(conn: Connection) -> tuple[DatasetVersion, bool]:
            existing = conn.execute(
                _versions_query().where(dataset_versions.c.digest == digest)
            ).first()
            if existing is not None:
                if existing.name != name:
                    raise ConflictError(
                        f"this content is already stored as dataset {existing.name!r} version "
                        f"{existing.number}; datasets are content-addressed, so use that version "
                        f"(loopml.datasets.get('{existing.name}@{existing.number}')) or change the data"
                    )
                return self._version(existing), False
            conn.execute(
                upsert(conn, datasets, ["name"], None), [{"name": name, "created_at": time.time()}]
            )
            dataset_id = conn.execute(
                select(datasets.c.id).where(datasets.c.name == name)
            ).scalar_one()
            latest = conn.execute(
                select(dataset_versions.c.number, dataset_versions.c.digest)
                .where(dataset_versions.c.dataset_id == dataset_id)
                .order_by(dataset_versions.c.number.desc())
                .limit(1)
            ).first()
            conn.execute(
                insert(dataset_versions).values(
                    digest=digest,
                    dataset_id=dataset_id,
                    number=(latest.number + 1) if latest else 1,
                    n_items=n_items,
                    columns=json.dumps(columns),
                    splits=json.dumps(splits),
                    parent=latest.digest if latest else None,
                    note=note,
                    source=json.dumps(source),
                    created_at=time.time(),
                )
            )
            row = conn.execute(_versions_query().where(dataset_versions.c.digest == digest)).one()
            return self._version(row), True

        try:
            return run_write(self._engine, write)
        except IntegrityError:
            # Another process registered the same content (or the next number) at the same
            # moment; the second attempt sees its row and returns it or numbers after it.
            return run_write(self._engine, write)

    def record_use(self, run_id: str, ref: str | DatasetVersion) -> DatasetVersion:
        """Record that run ``run_id`` reads version ``ref`` (once, however often it is called)."""
        version = self.get(ref)
        row = {"run_id": run_id, "digest": version.digest, "created_at": time.time()}

        def write(conn: Connection) -> None:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFoundError(
                    f"no run with id {run_id!r}; start one with loopml.init(project)"
                )
            conn.execute(upsert(conn, dataset_usage, ["run_id", "digest"], None), [row])

        run_write(self._engine, write)
        return version

    # -- reads ----------------------------------------------------------------------------------
    def rows(self, version: DatasetVersion) -> ItemReader:
        """A reader of ``version``'s items by row index (one row group read per item)."""
        return ItemReader(version.path)

    def get(self, ref: str | DatasetVersion) -> DatasetVersion:
        """Resolve ``name``, ``name@N``, ``name@latest`` or a digest prefix (8+ hex digits)."""
        if isinstance(ref, DatasetVersion):
            return ref
        if not isinstance(ref, str) or not ref:
            raise ValidationError(
                f"a dataset reference is a string such as 'digits@2', not {ref!r}"
            )
        name, _, number = ref.partition("@")
        with read(self._engine) as conn:
            if not number and len(ref) >= 8 and set(ref) <= _HEX:
                rows = conn.execute(
                    _versions_query().where(dataset_versions.c.digest.like(ref + "%")).limit(2)
                ).all()
                if len(rows) == 1:
                    return self._version(rows[0])
            q = _versions_query().where(datasets.c.name == name)
            if number in ("", "latest"):
                q = q.order_by(dataset_versions.c.number.desc()).limit(1)
            elif number.isdigit():
                q = q.where(dataset_versions.c.number == int(number))
            else:
                raise NotFoundError(
                    f"dataset reference {ref!r} is not understood; write 'name', 'name@3', "
                    "'name@latest' or a digest prefix"
                )
            row = conn.execute(q).first()
        if row is None:
            raise NotFoundError(
                f"no dataset version {ref!r}; list them with `loopml datasets list` "
                "and create one with loopml.datasets.create(name, data)"
            )
        return self._version(row)

    def latest(self) -> list[DatasetVersion]:
        """Every dataset's latest version, by name."""
        newest = (
            select(dataset_versions.c.dataset_id, func.max(dataset_versions.c.number).label("n"))
            .group_by(dataset_versions.c.dataset_id)
            .subquery()
        )
        q = (
            _versions_query()
            .join(
                newest,
                (newest.c.dataset_id == dataset_versions.c.dataset_id)
                & (newest.c.n == dataset_versions.c.number),
            )
            .order_by(datasets.c.name)
        )
        with read(self._engine) as conn:
            return [self._version(r) for r in conn.execute(q)]

    def versions(self, name: str) -> list[DatasetVersion]:
        """The versions of dataset ``name``, oldest first."""
        with read(self._engine) as conn:
            rows = conn.execute(
                _versions_query().where(datasets.c.name == name).order_by(dataset_versions.c.number)
            ).all()
        if not rows:
            raise NotFoundError(f"no dataset named {name!r}; list them with `loopml datasets list`")
        return [self._version(r) for r in rows]

    def users(self, digest: str) -> list[DatasetUse]:
        """The runs that used version ``digest``, first use first."""
        q = (
            select(
                runs.c.id,
                runs.c.name,
                runs.c.status,
                projects.c.name.label("project"),
                dataset_usage.c.created_at,
            )
            .join(dataset_usage, dataset_usage.c.run_id == runs.c.id)
            .join(projects, projects.c.id == runs.c.project_id)
            .where(dataset_usage.c.digest == digest)
            .order_by(dataset_usage.c.created_at)
        )
        with read(self._engine) as conn:
            return [
                DatasetUse(r.id, r.name, r.status, r.project, r.created_at) for r in conn.execute(q)
            ]

    def inputs_of(self, run_id: str) -> list[DatasetVersion]:
        """The dataset versions run ``run_id`` used, first use first."""
        q = (
            _versions_query()
            .join(dataset_usage, dataset_usage.c.digest == dataset_versions.c.digest)
            .where(dataset_usage.c.run_id == run_id)
            .order_by(dataset_usage.c.created_at)
        )
        with read(self._engine) as conn:
            return [self._version(r) for r in conn.execute(q)]
