"""The datasets API: create versions, look them up, compare them, and record which runs used them."""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.datasets._diff import DatasetDiff, diff_versions
from loopml.datasets._version import DatasetVersion

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.store import Store
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

# Small row groups let one item be read without scanning the file (the annotator queue).
_ROW_GROUP = 4096
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    from loopml.tracking import default_session

    return default_session().store


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"dataset name {name!r} is not allowed; use 1-200 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'digits-train')"
        )
    return name


def _version(store: Store, row: dict[str, Any]) -> DatasetVersion:
    from loopml.store._datasets import dataset_file

    return DatasetVersion.from_row(row, dataset_file(store, row["digest"]))


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
    import pyarrow.parquet as pq

    from loopml.datasets._build import table_digest
    from loopml.store._datasets import dataset_file, register_version

    store = _store(store)
    _check_name(name)
    digest = table_digest(table)
    path = dataset_file(store, digest)
    if not path.exists():
        # Write beside the target then rename: a reader never sees a half-written version.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{uuid.uuid4().hex}.tmp")
        pq.write_table(table, tmp, compression="zstd", row_group_size=_ROW_GROUP)
        os.chmod(tmp, 0o444)
        os.replace(tmp, path)
    splits = dict(sorted(Counter(table["split"].to_pylist()).items()))
    row, _ = register_version(store, name, digest, table.num_rows, roles, splits, note, source)
    return _version(store, row)


def get(ref: str | DatasetVersion, *, store: Store | None = None) -> DatasetVersion:
    """A dataset version: ``"name"`` (latest), ``"name@3"``, ``"name@latest"`` or a digest prefix."""
    from loopml.store._datasets import get_version

    if isinstance(ref, DatasetVersion):
        return ref
    if not isinstance(ref, str) or not ref:
        raise ValidationError(f"a dataset reference is a string such as 'digits@2', not {ref!r}")
    store = _store(store)
    return _version(store, get_version(store, ref))


def list_datasets(*, store: Store | None = None) -> list[DatasetVersion]:
    """The latest version of every dataset, by name."""
    from loopml.store._datasets import list_datasets as rows

    store = _store(store)
    return [_version(store, r) for r in rows(store)]


def versions(name: str, *, store: Store | None = None) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first."""
    from loopml.store._datasets import list_versions

    store = _store(store)
    return [_version(store, r) for r in list_versions(store, name)]


def diff(
    a: str | DatasetVersion, b: str | DatasetVersion, *, store: Store | None = None
) -> DatasetDiff:
    """Items added, removed and changed from version ``a`` to version ``b``."""
    return diff_versions(get(a, store=store), get(b, store=store))


def use_dataset(
    run: Run | str, version: str | DatasetVersion, *, store: Store | None = None
) -> DatasetVersion:
    """Record that ``run`` (a Run or run id) reads ``version``; returns the version."""
    from loopml.store._datasets import record_usage

    if not isinstance(run, str):
        store = store or run.store
        run_id = run.id
        run.flush()  # a lazily started run has its row written by the first ingest
    else:
        run_id = run
    store = _store(store)
    v = get(version, store=store)
    record_usage(store, run_id, v.digest)
    return v


def used_by(version: str | DatasetVersion, *, store: Store | None = None) -> list[dict[str, Any]]:
    """The runs that used a version (id, name, project, status, when): its lineage."""
    from loopml.store._datasets import version_users

    store = _store(store)
    return version_users(store, get(version, store=store).digest)


def inputs_of(run_id: str, *, store: Store | None = None) -> list[DatasetVersion]:
    """The dataset versions a run used."""
    from loopml.store._datasets import run_inputs

    store = _store(store)
    return [_version(store, r) for r in run_inputs(store, store.runs.resolve_id(run_id))]
