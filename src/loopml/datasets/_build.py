"""Turn what a user has (a DataFrame, CSV, Parquet, JSONL, a folder of images) into one Arrow table.

Every table has an ``id`` (text, unique) and a ``split`` column first, then ``label`` when there
is one, then the inputs and metadata columns as given.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["IMAGE_SUFFIXES", "build_table"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
_SOURCES = "a pandas DataFrame, a list of dicts, or a path to a .csv, .parquet, .jsonl file or a folder of images"


def _read_jsonl(path: Path) -> pd.DataFrame:
    import pandas as pd

    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(
                    f"{path} line {n} is not valid JSON ({exc.msg}); write one JSON value per line"
                ) from None
            # A bare string is a text item; an object is a row.
            rows.append(value if isinstance(value, dict) else {"text": value})
    return pd.DataFrame(rows)


def _read_images(folder: Path) -> pd.DataFrame:
    """One row per image file; a file under a subfolder takes the subfolder's name as its label."""
    import pandas as pd

    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ValidationError(
            f"folder {folder} has no image files ({', '.join(IMAGE_SUFFIXES)}); "
            "put images in it, optionally in one subfolder per class"
        )
    ids = [p.relative_to(folder).as_posix() for p in files]
    labels = [i.split("/")[0] if "/" in i else None for i in ids]
    frame = pd.DataFrame({"id": ids, "image": [p.read_bytes() for p in files]})
    if any(label is not None for label in labels):
        frame["label"] = labels
    return frame


def _to_frame(data: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), {"kind": "dataframe"}
    if isinstance(data, (str, Path)):
        path = Path(data).expanduser()
        if path.is_dir():
            return _read_images(path), {"kind": "images", "path": str(path)}
        if not path.is_file():
            raise ValidationError(f"no file or folder at {str(path)!r}; give {_SOURCES}")
        suffix = path.suffix.lower()
        source = {"kind": suffix.lstrip("."), "path": str(path)}
        if suffix == ".csv":
            return pd.read_csv(path), source
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path), source
        if suffix in (".jsonl", ".ndjson", ".json"):
            return _read_jsonl(path), source
        raise ValidationError(
            f"cannot read {path.name!r}: unknown file type {suffix!r}; give {_SOURCES}"
        )
    if isinstance(data, Sequence) and data and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame(list(data)), {"kind": "records"}
    raise ValidationError(f"cannot make a dataset from {type(data).__name__}; give {_SOURCES}")


def _assign_splits(ids: pd.Series, fractions: Mapping[str, float]) -> list[str]:
    """Split by a hash of each id, so an item keeps its split in every later version."""
    import numpy as np

    names = list(fractions)
    weights = np.array([float(fractions[n]) for n in names])
    if not names or (weights <= 0).any() or not np.isfinite(weights).all():
        raise ValidationError(
            f"split fractions {dict(fractions)!r} must be positive numbers, e.g. {{'train': 0.8, 'test': 0.2}}"
        )
    edges = np.cumsum(weights / weights.sum())
    u = (
        np.array(
            [
                int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "big")
                for i in ids
            ]
        )
        / 2.0**64
    )
    pick = np.minimum(np.searchsorted(edges, u, side="right"), len(names) - 1)
    return [names[k] for k in pick]


def build_table(
    data: Any,
    *,
    id_column: str = "id",
    label_column: str | None = "label",
    split: str | Mapping[str, float] | None = None,
    metadata: Sequence[str] = (),
) -> tuple[pa.Table, dict[str, Any], dict[str, Any]]:
    """The dataset's Arrow table, its column roles and where it came from."""
    import pyarrow as pa

    frame, source = _to_frame(data)
    if len(frame) == 0:
        raise ValidationError("a dataset needs at least one item; the data given is empty")
    frame.columns = [str(c) for c in frame.columns]
    if id_column in frame.columns:
        ids = frame.pop(id_column)
        if ids.isna().any():
            raise ValidationError(
                f"column {id_column!r} has {int(ids.isna().sum())} empty ids; every item needs an id"
            )
        ids = ids.astype(str)
    else:
        ids = frame.index.astype(str).to_series(index=frame.index)  # row numbers
    dupes = ids[ids.duplicated()].unique()
    if len(dupes):
        raise ValidationError(
            f"item ids must be unique; {len(dupes)} repeat (e.g. {list(dupes[:3])!r}); "
            f"fix column {id_column!r} or drop it to number the rows"
        )
    if isinstance(split, str):
        if split not in frame.columns:
            raise ValidationError(
                f"split column {split!r} is not in the data (columns: {list(frame.columns)})"
            )
        splits = frame.pop(split).astype(str).tolist()
    elif split is not None:
        splits = _assign_splits(ids, split)
        frame.pop("split") if "split" in frame.columns else None
    elif "split" in frame.columns:
        splits = frame.pop("split").astype(str).tolist()
    else:
        splits = ["train"] * len(frame)
    label = label_column if label_column and label_column in frame.columns else None
    missing = [m for m in metadata if m not in frame.columns]
    if missing:
        raise ValidationError(
            f"metadata columns {missing} are not in the data (columns: {list(frame.columns)})"
        )
    rest = [c for c in frame.columns if c != label]
    ordered: dict[str, Any] = {"id": ids.tolist(), "split": splits}
    if label is not None:
        ordered["label"] = frame[label]
    for c in rest:
        if c in ("id", "split", "label"):
            raise ValidationError(f"column name {c!r} is reserved by loopml; rename it")
        ordered[c] = frame[c]
    try:
        table = pa.table(ordered)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(
            f"the data cannot be stored as Parquet: {exc}; give each column one type"
        ) from None
    table = table.replace_schema_metadata(None)
    roles = {
        "id": "id",
        "label": "label" if label is not None else None,
        "inputs": [c for c in rest if c not in metadata],
        "metadata": list(metadata),
        "types": {f.name: str(f.type) for f in table.schema},
    }
    return table, roles, source
