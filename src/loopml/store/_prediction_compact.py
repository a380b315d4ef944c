"""Compaction of the prediction log: a closed hour's parts merged into one file whose metadata
lists the parts it holds (see ``_predictions.py`` for why that is safe while servers write and
readers read, and what a crash at each step leaves).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from loopml.store._prediction_files import (
    COMPACT_PREFIX,
    MANIFEST,
    MARKER,
    dictionary_columns,
    folder_lock,
    fsync_dir,
    live_names,
    manifest,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CompactionResult", "compact_folder"]

_ROW_GROUP = 128 * 1024


@dataclass
class CompactionResult:
    """What one :meth:`PredictionStore.compact` call did."""

    model: str
    hours: int = 0  # hour folders merged into one file
    parts: int = 0  # part files merged
    rows: int = 0
    removed: int = 0  # leftover parts of an earlier, interrupted compaction deleted
    skipped: list[str] = field(default_factory=list)  # "date=.../hour=..: why" (never a crash)


def compact_folder(folder: Path, result: CompactionResult) -> None:
    """Merge one closed hour folder (under its exclusive lock)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = f"{folder.parent.name}/{folder.name}"
    with folder_lock(folder, shared=False):
        for stale in folder.glob(f".{COMPACT_PREFIX}*.tmp"):
            stale.unlink(missing_ok=True)  # a compaction that died before its rename
        names = sorted(p.name for p in folder.glob("*.parquet"))
        if len(names) <= 1:
            return  # already one file (the usual case once compacted): nothing to read
        live, covered = live_names(folder, names)
        leftovers = [n for n in names if n in covered]
        for n in leftovers:  # an earlier compaction died between its rename and these deletes
            (folder / n).unlink(missing_ok=True)
        result.removed += len(leftovers)
        if len(live) <= 1:
            return
        try:
            schemas = [pq.read_schema(folder / n) for n in live]
            schema = pa.unify_schemas(
                [s.remove_metadata() for s in schemas], promote_options="permissive"
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            result.skipped.append(f"{where}: the parts' columns clash ({exc})")
            return
        # The newest part's metadata (the class list) plus the manifest: every name merged, and
        # every name the merged compacted files held (a late part merged into an older merge).
        held = set(covered)
        for n in live:
            if n.startswith(COMPACT_PREFIX):
                held |= manifest(folder / n)
        held |= set(live)
        meta = dict(schemas[-1].metadata or {})
        meta[MANIFEST] = json.dumps(sorted(held)).encode()
        schema = schema.with_metadata(meta)
        name = f"{COMPACT_PREFIX}{uuid.uuid4().hex}.parquet"
        tmp = folder / f".{name}.tmp"
        rows = 0
        try:
            with pq.ParquetWriter(
                tmp, schema, compression="zstd", use_dictionary=dictionary_columns(schema)
            ) as writer:
                # Small parts are gathered into row groups of ~_ROW_GROUP rows: one row group per
                # part would keep the read cost of thousands of parts inside the merged file.
                batch: list[pa.Table] = []
                held_rows = 0
                for n in live:
                    table = _aligned(pq.read_table(folder / n), schema)
                    rows += table.num_rows
                    batch.append(table)
                    held_rows += table.num_rows
                    if held_rows >= _ROW_GROUP:
                        writer.write_table(pa.concat_tables(batch), row_group_size=_ROW_GROUP)
                        batch, held_rows = [], 0
                if batch:
                    writer.write_table(pa.concat_tables(batch), row_group_size=_ROW_GROUP)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        except (OSError, pa.ArrowException) as exc:
            tmp.unlink(missing_ok=True)
            result.skipped.append(f"{where}: merging failed ({exc})")
            return
        (folder / MARKER).touch()
        _install(tmp, folder / name)
        fsync_dir(folder)
        for n in live:  # the merged file lists them all: from here on they are leftovers
            (folder / n).unlink(missing_ok=True)
        result.hours += 1
        result.parts += len(live)
        result.rows += rows


def _install(tmp: Path, final: Path) -> None:
    """Rename the merged file into place (one hook for the fault tests)."""
    os.replace(tmp, final)


def _aligned(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order (missing ones null) and types."""
    import pyarrow as pa

    arrays = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            arrays.append(col if col.type == f.type else col.cast(f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
