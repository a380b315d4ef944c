"""Artifact previews for the run page: images inline, heads of text, CSV and Parquet files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from loopml.store import ArtifactRecord, Store

__all__ = ["Preview", "preview"]

_IMAGE = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_TEXT = (
    ".txt",
    ".log",
    ".md",
    ".json",
    ".yaml",
    ".yml",
    ".py",
    ".toml",
    ".cfg",
    ".ini",
    ".html",
    ".svg",
    ".xml",
)
_TEXT_BYTES = 16_384
_HEAD_ROWS = 20
_MAX_COLUMNS = 30


@dataclass
class Preview:
    """How to show an artifact: ``kind`` is image, text, table, or none (with a ``note``)."""

    kind: str
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def preview(store: Store, run_id: str, artifact: ArtifactRecord) -> Preview:
    """A preview of ``artifact``; unreadable files give a ``none`` preview saying why."""
    name = artifact.name.lower()
    try:
        path = store.runs.artifact_file(run_id, artifact.name)
        if name.endswith(_IMAGE):
            return Preview("image")
        if name.endswith(".csv") or name.endswith(".tsv"):
            return _csv_head(path, "\t" if name.endswith(".tsv") else ",")
        if name.endswith(".parquet"):
            return _parquet_head(path)
        if name.endswith(_TEXT):
            return _text_head(path)
    except Exception as exc:  # a broken artifact must not break the run page
        return Preview("none", note=f"cannot preview: {type(exc).__name__}: {exc}")
    return Preview("none", note="no preview for this file type; download it")


def _text_head(path: Path) -> Preview:
    with open(path, "rb") as f:
        data = f.read(_TEXT_BYTES + 1)
    note = f"first {_TEXT_BYTES // 1024} KB" if len(data) > _TEXT_BYTES else ""
    return Preview("text", text=data[:_TEXT_BYTES].decode("utf-8", errors="replace"), note=note)


def _csv_head(path: Path, delimiter: str) -> Preview:
    with open(path, "rb") as f:
        raw = f.read(1 << 20).decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(raw), delimiter=delimiter))[: _HEAD_ROWS + 1]
    if not rows:
        return Preview("none", note="empty file")
    return Preview(
        "table",
        columns=rows[0][:_MAX_COLUMNS],
        rows=[r[:_MAX_COLUMNS] for r in rows[1:]],
        note=f"first {len(rows) - 1} rows",
    )


def _parquet_head(path: Path) -> Preview:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names[:_MAX_COLUMNS]
    batch = next(pf.iter_batches(batch_size=_HEAD_ROWS, columns=names), None)
    rows: list[list[str]] = []
    if batch is not None:
        data = batch.to_pydict()
        rows = [[str(data[c][i]) for c in names] for i in range(batch.num_rows)]
    return Preview(
        "table", columns=names, rows=rows, note=f"first {len(rows)} of {pf.metadata.num_rows} rows"
    )
