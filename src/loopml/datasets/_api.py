"""The datasets API: create versions, look them up, compare them, and record which runs used them."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.datasets._diff import DatasetDiff, diff_versions
from loopml.store import DatasetVersion

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.store import DatasetStore, Store
    from loopml.tracking import Run

__all__ = [
    "create",
    "create_from_table",
    "diff",
    "get",
    "inputs_of",
    "list_datasets",
    "use_dataset",
    "used_by",
    "versions",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _datasets(store: Store | None) -> DatasetStore:
    """``store``'s datasets, else the default session's (a team server's with
    ``LOOPML_TRACKING_URI``)."""
    if store is not None:
        return store.datasets
    from loopml.tracking import default_session

    return default_session().datasets


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"dataset name {name!r} is not allowed; use 1-200 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'digits-train')"
        )
    return name


def create(
    name: str,
    data: Any,
    *,
    id_column: str = "id",
    label_column: str | None = "label",
    split: str | Mapping[str, float] | None = None,
    metadata: Sequence[str] = (),
    note: str | None = None,
    store: Store | None = None,
) -> DatasetVersion:
    """Store ``data`` as the next version of dataset ``name`` (or return the identical one).

    ``data``: a pandas DataFrame, a list of dicts, or a path to a CSV, Parquet or JSONL file (one
    text or JSON object per line) or a folder of images (a subfolder per class gives labels).
    ``split``: a column holding each item's split, or fractions such as ``{"train": 0.8,
    "test": 0.2}`` assigned by a hash of the id (an item keeps its split in later versions).
    """
    from loopml.datasets._build import build_table

    _check_name(name)
    table, roles, source = build_table(
        data, id_column=id_column, label_column=label_column, split=split, metadata=metadata
    )
    return create_from_table(name, table, roles, source, note=note, store=store)


def create_from_table(
    name: str,
    table: pa.Table,
    roles: dict[str, Any],
    source: dict[str, Any],
    *,
    note: str | None = None,
    store: Store | None = None,
) -> DatasetVersion:
    """Store an already built table (``id`` and ``split`` first) as a version of ``name``."""
    _check_name(name)
    version, _ = _datasets(store).add_version(name, table, roles, source, note)
    return version


def get(ref: str | DatasetVersion, *, store: Store | None = None) -> DatasetVersion:
    """A dataset version: ``"name"`` (latest), ``"name@3"``, ``"name@latest"`` or a digest prefix."""
    if isinstance(ref, DatasetVersion):
        return ref
    return _datasets(store).get(ref)


def list_datasets(*, store: Store | None = None) -> list[DatasetVersion]:
    """The latest version of every dataset, by name."""
    return _datasets(store).latest()


def versions(name: str, *, store: Store | None = None) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first."""
    return _datasets(store).versions(name)


def diff(
    a: str | DatasetVersion, b: str | DatasetVersion, *, store: Store | None = None
) -> DatasetDiff:
    """Items added, removed and changed from version ``a`` to version ``b``."""
    return diff_versions(get(a, store=store), get(b, store=store))


def use_dataset(
    run: Run | str, version: str | DatasetVersion, *, store: Store | None = None
) -> DatasetVersion:
    """Record that ``run`` (a Run or run id) reads ``version``; returns the version."""
    if not isinstance(run, str):
        run_id = run.id
        run.flush()  # a lazily started run has its row written by the first ingest
        if store is None:  # the run's own store, or its team server
            return run._session.datasets.record_use(run_id, version)
    else:
        run_id = run
    return _datasets(store).record_use(run_id, version)


def used_by(version: str | DatasetVersion, *, store: Store | None = None) -> list[dict[str, Any]]:
    """The runs that used a version (id, name, project, status, when): its lineage."""
    return [dataclasses.asdict(u) for u in _datasets(store).users(get(version, store=store).digest)]


def inputs_of(run_id: str, *, store: Store | None = None) -> list[DatasetVersion]:
    """The dataset versions a run used."""
    if store is not None:
        return store.datasets.inputs_of(store.runs.resolve_id(run_id))
    from loopml.tracking import default_session

    session = default_session()
    return session.datasets.inputs_of(session.backend.resolve_id(run_id))
