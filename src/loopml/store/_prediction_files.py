"""The prediction log's files on disk: hour folders, their locks, part writes and the manifest of
compacted files. ``_predictions.py`` (the ``store.predictions`` surface) and
``_prediction_compact.py`` build on these; see ``_predictions.py`` for the layout and the rules.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "COMPACT_PREFIX",
    "FRESH_CODEC",
    "MANIFEST",
    "MARKER",
    "ServiceLock",
    "TimeBound",
    "as_datetime",
    "check_part",
    "dictionary_columns",
    "epoch",
    "folder_lock",
    "fsync_dir",
    "hour_of",
    "is_missing_file",
    "list_folder",
    "live_names",
    "manifest",
    "plain",
    "write_into",
    "write_part",
]

_UTC = dt.UTC
TimeBound = dt.datetime | str | float | None

COMPACT_PREFIX = "compact-"
MANIFEST = b"loopml.parts"
MARKER = ".compacted"  # a folder that has (had) a compacted file: the writer checks manifests
LOCK = ".lock"


def as_datetime(value: TimeBound, what: str) -> dt.datetime | None:
    """A timezone-aware UTC datetime from a datetime, ISO text or a Unix time."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be a datetime, ISO text or Unix seconds, not {value!r}")
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(float(value), tz=_UTC)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"{what}={value!r} is not a date or time; write ISO text like "
                "'2026-11-30T04:00' (UTC unless it names a zone)"
            ) from None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    raise ValidationError(f"{what} must be a datetime, ISO text or Unix seconds, not {value!r}")


def epoch(value: TimeBound, what: str) -> float | None:
    when = as_datetime(value, what)
    return None if when is None else when.timestamp()


def hour_of(folder: Path) -> float | None:
    """The Unix start of an ``date=.../hour=..`` folder (None for a folder of another shape)."""
    try:
        start = dt.datetime.strptime(
            f"{folder.parent.name[5:]} {folder.name[5:]}", "%Y-%m-%d %H"
        ).replace(tzinfo=_UTC)
    except ValueError:
        return None
    if not (folder.parent.name.startswith("date=") and folder.name.startswith("hour=")):
        return None
    return start.timestamp()


@contextlib.contextmanager
def folder_lock(folder: Path, *, shared: bool) -> Iterator[None]:
    """The hour folder's lock (shared for listings, exclusive for writes and compaction)."""
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        # A read-only copy of the log (a Ray worker's mount): nothing writes it from here.
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def manifest(path: Path) -> set[str]:
    """The part names a compacted file holds (empty if it is gone or not a compacted file)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):
        return set()
    raw = meta.get(MANIFEST)
    return set(json.loads(raw)) if raw else set()


def live_names(folder: Path, names: Sequence[str]) -> tuple[list[str], set[str]]:
    """(the names a reader should read, the names compacted files hold) of one folder listing."""
    compacted = [n for n in names if n.startswith(COMPACT_PREFIX)]
    if not compacted:
        return list(names), set()
    covered: set[str] = set()
    for name in compacted:
        covered |= manifest(folder / name)
    return [n for n in names if n not in covered], covered


def list_folder(folder: Path) -> list[Path]:
    """The complete files of one hour folder, compacted parts left out (under the lock)."""
    with folder_lock(folder, shared=True):
        names = sorted(p.name for p in folder.glob("*.parquet"))
        live, _ = live_names(folder, names)
    return [folder / n for n in live]


def is_missing_file(exc: BaseException) -> bool:
    # A file listed before a compaction and deleted by it before the read opened it.
    text = str(exc)
    return isinstance(exc, FileNotFoundError) or (
        "No files found" in text or "No such file" in text or "does not exist" in text
    )


class ServiceLock:
    """A lock that one process of many holds to run a model's background service (the monitor
    a model server runs: one per model, however many workers). The operating system drops it
    when its process dies, so another process can take over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock without waiting; True if this object holds it now."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lock go (nothing happens if it is not held)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def check_part(part: str) -> None:
    if (
        not isinstance(part, str)
        or not part
        or not part.replace("-", "").isalnum()
        or not part.isascii()
        or part.startswith(COMPACT_PREFIX.rstrip("-"))
    ):
        raise ValidationError(
            f"part name {part!r} must be ASCII letters, digits and '-' only, not starting "
            "with 'compact'"
        )


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_UNIQUE = frozenset({"id", "request_id", "time"})


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth dictionary encoding: text, flags and whole numbers (labels, versions,
    statuses, categories). Floats, the ids and the times are near-unique: trying a dictionary
    on them cost about half a part's write time and made the file larger."""
    import pyarrow as pa

    out = []
    for field in schema:
        typ = field.type
        while pa.types.is_list(typ) or pa.types.is_large_list(typ):
            typ = typ.value_type
        if field.name not in _UNIQUE and not pa.types.is_floating(typ):
            out.append(field.name)
    return out


# A fresh prediction part is written by the serving process, beside the requests, and the hour's
# compaction rewrites it with zstd: lz4 costs a fraction of zstd's CPU (the features are floats,
# which neither shrinks much), and min/max statistics are kept only on the columns readers filter
# parts by (the time windows, the model version). Parquet readers handle the codecs mixed.
FRESH_CODEC = "lz4"
_FRESH_STATISTICS = ("time", "model_version")


def write_part(table: pa.Table, folder: Path, part: str, *, fresh: bool = False) -> Path:
    """Write ``table`` as ``<part>.parquet`` in ``folder`` (atomically, synced); ``fresh``: a
    prediction part the compaction rewrites later, written cheaply (see ``FRESH_CODEC``)."""
    import pyarrow.parquet as pq

    final = folder / f"{part}.parquet"
    tmp = folder / f".{part}.parquet.tmp"
    if fresh:
        stats = [c for c in _FRESH_STATISTICS if c in table.column_names]
        pq.write_table(
            table,
            tmp,
            compression=FRESH_CODEC,
            use_dictionary=dictionary_columns(table.schema),
            write_statistics=stats or False,
        )
    else:
        pq.write_table(
            table, tmp, compression="zstd", use_dictionary=dictionary_columns(table.schema)
        )
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final


def write_into(folder: Path, rows: pa.Table, part: str) -> Path | None:
    """Write one hour's rows as ``part`` (the folder's lock held). When a compaction already
    merged a part of that name (a journal replayed after a crash), only rows the hour does not
    hold yet are written, under a new name, so a replay never duplicates nor loses a row."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    name = f"{part}.parquet"
    if (folder / MARKER).exists():
        names = sorted(p.name for p in folder.glob("*.parquet"))
        live, covered = live_names(folder, names)
        if name in covered:
            held: set[Any] = set()
            for other in live:
                held.update(pq.read_table(folder / other, columns=["id"]).column("id").to_pylist())
            rows = rows.filter(pc.invert(pc.is_in(rows.column("id"), value_set=array(held))))
            if rows.num_rows == 0:
                return None
            k = 1
            while f"{part}-r{k}.parquet" in covered or (folder / f"{part}-r{k}.parquet").exists():
                k += 1
            part = f"{part}-r{k}"
    return write_part(rows, folder, part, fresh=True)


def array(values: set[Any]) -> pa.Array:
    import pyarrow as pa

    return pa.array(sorted(values), pa.string()) if values else pa.array([], pa.string())
