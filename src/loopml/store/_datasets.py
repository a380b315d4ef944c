"""Store operations for dataset versions and their lineage (metadata rows; items are Parquet)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from loopml._errors import ConflictError, NotFoundError
from loopml.store._dialect import upsert
from loopml.store._engine import read, run_write
from loopml.store._schema_labeling import dataset_usage, dataset_versions, datasets
from loopml.store._schema_runs import projects, runs

if TYPE_CHECKING:
    from loopml.store._store import Store

__all__ = [
    "dataset_file",
    "get_version",
    "list_datasets",
    "list_versions",
    "record_usage",
    "register_version",
    "run_inputs",
    "version_users",
]


def dataset_file(store: Store, digest: str) -> Path:
    """Where the Parquet file of version ``digest`` lives (two-level fan-out by digest)."""
    return store.data_dir / "datasets" / digest[:2] / f"{digest}.parquet"


def _row(r: Any) -> dict[str, Any]:
    return {
        "name": r.name,
        "number": int(r.number),
        "digest": r.digest,
        "n_items": int(r.n_items),
        "columns": json.loads(r.columns),
        "splits": json.loads(r.splits),
        "parent": r.parent,
        "note": r.note,
        "source": json.loads(r.source) if r.source else {},
        "created_at": r.created_at,
    }


def _versions_query() -> Any:
    return select(dataset_versions, datasets.c.name).join(
        datasets, datasets.c.id == dataset_versions.c.dataset_id
    )


def register_version(
    store: Store,
    name: str,
    digest: str,
    n_items: int,
    columns: dict[str, Any],
    splits: dict[str, int],
    note: str | None,
    source: dict[str, Any],
) -> tuple[dict[str, Any], bool]:
    """Add version ``digest`` of dataset ``name`` (numbered after the latest); idempotent.

    Returns the version's row and whether it is new. The same content registered again under the
    same name returns the existing version; under another name it is a conflict.
    """

    def write(conn: Connection) -> tuple[dict[str, Any], bool]:
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
            return _row(existing), False
        conn.execute(
            upsert(conn, datasets, ["name"], None), [{"name": name, "created_at": time.time()}]
        )
        dataset_id = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar_one()
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
        return _row(row), True

    try:
        return run_write(store.engine, write)
    except IntegrityError:
        # Another process registered the same content (or the next number) at the same moment;
        # the second attempt sees its row and returns it or numbers after it.
        return run_write(store.engine, write)


def get_version(store: Store, ref: str) -> dict[str, Any]:
    """Resolve ``name``, ``name@N``, ``name@latest`` or a digest prefix (8+ hex digits)."""
    name, _, number = ref.partition("@")
    with read(store.engine) as conn:
        if not number and len(ref) >= 8 and all(c in "0123456789abcdef" for c in ref):
            rows = conn.execute(
                _versions_query().where(dataset_versions.c.digest.like(ref + "%")).limit(2)
            ).all()
            if len(rows) == 1:
                return _row(rows[0])
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
    return _row(row)


def list_datasets(store: Store) -> list[dict[str, Any]]:
    """Every dataset with its latest version."""
    with read(store.engine) as conn:
        latest = (
            select(dataset_versions.c.dataset_id, func.max(dataset_versions.c.number).label("n"))
            .group_by(dataset_versions.c.dataset_id)
            .subquery()
        )
        q = (
            _versions_query()
            .join(
                latest,
                (latest.c.dataset_id == dataset_versions.c.dataset_id)
                & (latest.c.n == dataset_versions.c.number),
            )
            .order_by(datasets.c.name)
        )
        return [_row(r) for r in conn.execute(q)]


def list_versions(store: Store, name: str) -> list[dict[str, Any]]:
    """The versions of dataset ``name``, oldest first."""
    with read(store.engine) as conn:
        rows = conn.execute(
            _versions_query().where(datasets.c.name == name).order_by(dataset_versions.c.number)
        ).all()
    if not rows:
        raise NotFoundError(f"no dataset named {name!r}; list them with `loopml datasets list`")
    return [_row(r) for r in rows]


def record_usage(store: Store, run_id: str, digest: str) -> None:
    """Record that run ``run_id`` read version ``digest`` (once, however often it is called)."""
    row = {"run_id": run_id, "digest": digest, "created_at": time.time()}

    def write(conn: Connection) -> None:
        if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            raise NotFoundError(f"no run with id {run_id!r}; start one with loopml.init(project)")
        conn.execute(upsert(conn, dataset_usage, ["run_id", "digest"], None), [row])

    run_write(store.engine, write)


def version_users(store: Store, digest: str) -> list[dict[str, Any]]:
    """The runs that used version ``digest``: id, project, name, status, when."""
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
    with read(store.engine) as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def run_inputs(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The dataset versions run ``run_id`` used."""
    q = (
        _versions_query()
        .join(dataset_usage, dataset_usage.c.digest == dataset_versions.c.digest)
        .where(dataset_usage.c.run_id == run_id)
        .order_by(dataset_usage.c.created_at)
    )
    with read(store.engine) as conn:
        return [_row(r) for r in conn.execute(q)]
