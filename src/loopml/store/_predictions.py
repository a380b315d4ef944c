"""The prediction log's format, written and read here only: hourly Parquet parts per model.

Reached as ``store.predictions``. Layout (the prediction log contract in ``docs/serving.md``)::

    <data_dir>/predictions/<model>/date=YYYY-MM-DD/hour=HH/<part>.parquet
    <data_dir>/predictions/<model>/date=YYYY-MM-DD/hour=HH/compact-<id>.parquet   (compacted)
    <data_dir>/predictions/<model>/feedback/date=YYYY-MM-DD/<part>.parquet
    <data_dir>/predictions/<model>/_journals/      (serving's crash-safe journals)

A part is written as ``.<part>.parquet.tmp`` and renamed into place, so a reader that globs
``*.parquet`` sees whole files only. Part names are chosen by the writer; writing the same name
again replaces it, which is what makes a journal replay after a crash idempotent.

Compaction (:meth:`PredictionStore.compact`) merges a closed hour's parts into one
``compact-<id>.parquet`` whose metadata lists the parts it holds (``loopml.parts``). Listings skip
any part a compacted file lists, so a crash between installing the merged file and deleting the
parts duplicates nothing; the next compaction deletes the leftovers. Each hour folder has a lock
file (``.lock``): the writer and the compactor take it exclusively, listings take it shared, so a
listing never sees half a swap. A replay of a part that was already compacted writes only the rows
the hour does not hold yet. The windowed aggregates over these files live in
``_prediction_windows.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loopml._errors import NotFoundError, ValidationError
from loopml.store._duck import quote_ident as quote
from loopml.store._models import check_model_name

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from loopml.store._prediction_windows import Aggregate
    from loopml.store._store import Store

__all__ = ["CompactionResult", "PredictionStore", "SchemaChange", "ServiceLock"]

_UTC = dt.UTC
TimeBound = dt.datetime | str | float | None
T = TypeVar("T")

COMPACT_PREFIX = "compact-"
_MANIFEST = b"loopml.parts"
_MARKER = ".compacted"  # a folder that has (had) a compacted file: the writer checks manifests
_LOCK = ".lock"
_READ_TRIES = 10
_ROW_GROUP = 128 * 1024


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A column that appeared or disappeared in the log's history."""

    column: str
    change: str  # added, removed
    first_file: str  # the first file (in time order) showing the change


@dataclass
class CompactionResult:
    """What one :meth:`PredictionStore.compact` call did."""

    model: str
    hours: int = 0  # hour folders merged into one file
    parts: int = 0  # part files merged
    rows: int = 0
    removed: int = 0  # leftover parts of an earlier, interrupted compaction deleted
    skipped: list[str] = field(default_factory=list)  # "date=.../hour=..: why" (never a crash)


def _as_datetime(value: TimeBound, what: str) -> dt.datetime | None:
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


def _epoch(value: TimeBound, what: str) -> float | None:
    when = _as_datetime(value, what)
    return None if when is None else when.timestamp()


def _hour_of(folder: Path) -> float | None:
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
def _folder_lock(folder: Path, *, shared: bool) -> Iterator[None]:
    """The hour folder's lock (shared for listings, exclusive for writes and compaction)."""
    try:
        fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        # A read-only copy of the log (a Ray worker's mount): nothing writes it from here.
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _manifest(path: Path) -> set[str]:
    """The part names a compacted file holds (empty if it is gone or not a compacted file)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):
        return set()
    raw = meta.get(_MANIFEST)
    return set(json.loads(raw)) if raw else set()


def _live(folder: Path, names: Sequence[str]) -> tuple[list[str], set[str]]:
    """(the names a reader should read, the names compacted files hold) of one folder listing."""
    compacted = [n for n in names if n.startswith(COMPACT_PREFIX)]
    if not compacted:
        return list(names), set()
    covered: set[str] = set()
    for name in compacted:
        covered |= _manifest(folder / name)
    return [n for n in names if n not in covered], covered


def _list_folder(folder: Path) -> list[Path]:
    """The complete files of one hour folder, compacted parts left out (under the lock)."""
    with _folder_lock(folder, shared=True):
        names = sorted(p.name for p in folder.glob("*.parquet"))
        live, _ = _live(folder, names)
    return [folder / n for n in live]


def _is_missing_file(exc: BaseException) -> bool:
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


class PredictionStore:
    """Writes and reads the prediction log of each model. Safe across threads and processes:
    every part is written whole and renamed into place, under its hour folder's lock."""

    def __init__(self, store: Store | None) -> None:
        # store=None: a reader of given files only (a Ray task on another node).
        self._store = store

    @property
    def directory(self) -> Path:
        """``<data_dir>/predictions``."""
        if self._store is None:
            raise ValidationError("this prediction log reader has no store; give it files")
        return self._store.data_dir / "predictions"

    def model_dir(self, model: str) -> Path:
        """The folder of one model's log (the name is checked: it becomes a folder name)."""
        return self.directory / check_model_name(model)

    def journal_dir(self, model: str) -> Path:
        """Where serving keeps the crash-safe journals of ``model`` until they are written out."""
        path = self.model_dir(model) / "_journals"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def service_lock(self, model: str, service: str) -> ServiceLock:
        """The lock of ``service`` (letters and digits) for ``model``'s log; not yet taken."""
        if not isinstance(service, str) or not service.isalnum() or not service.isascii():
            raise ValidationError(f"service name {service!r} must be ASCII letters and digits")
        return ServiceLock(self.model_dir(model) / f"_{service}.lock")

    # -- writes --------------------------------------------------------------------------------
    def write(
        self,
        model: str,
        table: pa.Table,
        part: str | None = None,
        classes: Sequence[Any] | None = None,
    ) -> list[Path]:
        """Write prediction rows as one part per UTC hour they span, named ``part`` (a fresh
        name when None); returns the paths written. ``classes`` go to the files' metadata."""
        import pyarrow as pa
        import pyarrow.compute as pc

        part = uuid.uuid4().hex if part is None else part
        _check_part(part)
        if "time" not in table.column_names:
            raise ValidationError("a prediction log table needs a 'time' column (UTC timestamps)")
        if table.num_rows == 0:
            return []
        meta = {b"loopml.classes": json.dumps([_plain(c) for c in classes or []]).encode()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
        hours = pc.floor_temporal(table.column("time"), unit="hour")
        written = []
        root = self.model_dir(model)
        for hour in pc.unique(hours).to_pylist():
            rows = table.filter(pc.equal(hours, pa.scalar(hour, type=hours.type)))
            when = hour if hour.tzinfo is None else hour.astimezone(_UTC)
            folder = root / f"date={when:%Y-%m-%d}" / f"hour={when:%H}"
            folder.mkdir(parents=True, exist_ok=True)
            with _folder_lock(folder, shared=False):
                path = _write_into(folder, rows, part)
            if path is not None:
                written.append(path)
        return written

    def write_feedback(self, model: str, table: pa.Table, part: str | None = None) -> list[Path]:
        """Write feedback rows (``id``, ``time``, ``truth``), one part per UTC date."""
        import pyarrow as pa
        import pyarrow.compute as pc

        part = uuid.uuid4().hex if part is None else part
        _check_part(part)
        missing = {"id", "time", "truth"} - set(table.column_names)
        if missing:
            raise ValidationError(f"a feedback table needs id, time and truth; {missing} missing")
        if table.num_rows == 0:
            return []
        days = pc.floor_temporal(table.column("time"), unit="day")
        written = []
        for day in pc.unique(days).to_pylist():
            rows = table.filter(pc.equal(days, pa.scalar(day, type=days.type)))
            when = day if day.tzinfo is None else day.astimezone(_UTC)
            folder = self.model_dir(model) / "feedback" / f"date={when:%Y-%m-%d}"
            folder.mkdir(parents=True, exist_ok=True)
            written.append(_write_part(rows, folder, part))
        return written

    # -- listing -------------------------------------------------------------------------------
    def models(self) -> list[str]:
        """Models that have a prediction log."""
        if self._store is None or not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if p.is_dir())

    def hour_folders(
        self, model: str, since: TimeBound = None, until: TimeBound = None
    ) -> list[tuple[float, Path]]:
        """(Unix hour start, folder) of each hour of ``model``'s log overlapping the range."""
        lo, hi = _epoch(since, "since"), _epoch(until, "until")
        root = self.model_dir(model)
        if not root.is_dir():
            return []
        out = []
        for folder in root.glob("date=*/hour=*"):
            start = _hour_of(folder)
            if start is None:
                continue  # not a partition folder of the contract
            if (hi is not None and start >= hi) or (lo is not None and start + 3600 <= lo):
                continue
            out.append((start, folder))
        return sorted(out)

    def files(self, model: str, since: TimeBound = None, until: TimeBound = None) -> list[Path]:
        """The complete part files of ``model`` whose hour overlaps ``[since, until)``, oldest
        hour first (a compacted hour is one file)."""
        return [
            p for _, folder in self.hour_folders(model, since, until) for p in _list_folder(folder)
        ]

    def feedback_files(self, model: str) -> list[Path]:
        """The complete feedback part files of ``model``."""
        return sorted((self.model_dir(model) / "feedback").glob("date=*/*.parquet"))

    def classes(self, model: str) -> list[Any] | None:
        """The class list recorded in the newest part of ``model``'s log (None without parts)."""
        import pyarrow.parquet as pq

        for path in reversed(self.files(model)):
            try:
                meta = pq.read_schema(path).metadata or {}
            except FileNotFoundError:
                continue  # compacted away since the listing
            raw = meta.get(b"loopml.classes")
            if raw is not None:
                return list(json.loads(raw))
        return None

    def columns(self, files: Sequence[Path]) -> tuple[dict[str, str], list[SchemaChange]]:
        """The union of columns (name -> Arrow type text) and the changes along ``files``."""
        import pyarrow.parquet as pq

        union: dict[str, str] = {}
        changes: list[SchemaChange] = []
        previous: set[str] | None = None
        for path in files:
            schema = pq.read_schema(path)
            names = set(schema.names)
            for f in schema:
                union.setdefault(f.name, str(f.type))
            if previous is not None:
                changes += [SchemaChange(c, "added", path.name) for c in sorted(names - previous)]
                changes += [SchemaChange(c, "removed", path.name) for c in sorted(previous - names)]
            previous = names
        return union, changes

    def read_retrying(
        self, list_files: Callable[[], list[Path]], read: Callable[[list[Path]], T]
    ) -> T:
        """``read(list_files())``, listed again when a file went away under it (a compaction
        finished between the listing and the read: the merged file holds the same rows)."""
        for attempt in range(_READ_TRIES):
            files = list_files()
            try:
                return read(files)
            except Exception as exc:
                if attempt + 1 == _READ_TRIES or not _is_missing_file(exc):
                    raise
                if all(p.exists() for p in files):
                    raise  # not a file the compaction removed
                time.sleep(0.01 * (attempt + 1))  # let the compaction that raced us finish
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reads ---------------------------------------------------------------------------------
    def relation(
        self,
        con: duckdb.DuckDBPyConnection,
        model: str,
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> duckdb.DuckDBPyRelation | None:
        """A DuckDB relation over the log of ``model`` in ``[since, until)`` (None when empty).

        Files written under different schemas (a feature added or removed) are read by name.
        The relation is lazy: run it soon (a compaction may replace its files later).
        """
        files = self.files(model, since, until)
        if not files:
            return None
        return self._relation(con, files, since, until)

    def _relation(
        self,
        con: duckdb.DuckDBPyConnection,
        files: Sequence[Path],
        since: TimeBound,
        until: TimeBound,
        columns: Sequence[str] | None = None,
    ) -> duckdb.DuckDBPyRelation:
        lo = _as_datetime(since, "since")
        hi = _as_datetime(until, "until")
        cond, params = ["true"], []
        if lo is not None:
            cond.append('"time" >= ?')
            params.append(lo)
        if hi is not None:
            cond.append('"time" < ?')
            params.append(hi)
        # The hive columns (date, hour) are dropped: "time" carries the same information.
        what = "* EXCLUDE (date, hour)" if columns is None else ", ".join(map(quote, columns))
        query = (
            f"SELECT {what} FROM read_parquet(?, union_by_name=true, "
            f'hive_partitioning=true) WHERE {" AND ".join(cond)} ORDER BY "time"'
        )
        return con.sql(query, params=[[str(f) for f in files], *params])

    def frame(
        self,
        model: str,
        since: TimeBound = None,
        until: TimeBound = None,
        *,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The log of ``model`` in ``[since, until)`` as a DataFrame, oldest first (every
        column, or those of ``columns`` the log has; at most ``limit`` rows)."""
        import duckdb
        import pandas as pd

        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValidationError(f"limit must be a whole number >= 0, not {limit!r}")

        def read(files: list[Path]) -> pd.DataFrame:
            if not files:
                return pd.DataFrame(
                    {"id": pd.Series(dtype=str), "time": pd.Series(dtype="datetime64[us, UTC]")}
                )
            cols = None
            if columns is not None:
                present, _ = self.columns(files)
                cols = [c for c in columns if c in present]
                if not cols:
                    raise NotFoundError(f"none of the columns {list(columns)} is in {model}'s log")
            con = duckdb.connect()
            try:
                rel = self._relation(con, files, since, until, cols)
                if limit is not None:
                    rel = rel.limit(limit)
                return _utc(rel.df())
            finally:
                con.close()

        return self.read_retrying(lambda: self.files(model, since, until), read)

    def rows(
        self,
        model: str,
        since: TimeBound,
        until: TimeBound,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The log's rows in ``[since, until)`` (the monitors' read; :meth:`frame` by another
        name, with both bounds required)."""
        if since is None or until is None:
            raise ValidationError("rows() needs both since and until")
        return self.frame(model, since, until, columns=columns, limit=limit)

    def feedback_frame(self, model: str) -> pd.DataFrame:
        """Every feedback row of ``model`` (the latest per prediction id wins), oldest first."""
        import duckdb
        import pandas as pd

        files = self.feedback_files(model)
        if not files:
            return pd.DataFrame(
                {
                    "id": pd.Series(dtype=str),
                    "time": pd.Series(dtype="datetime64[us, UTC]"),
                    "truth": pd.Series(dtype=str),
                }
            )
        con = duckdb.connect()
        try:
            df = con.sql(
                "SELECT id, time, truth FROM read_parquet(?, union_by_name=true, "
                "hive_partitioning=false) QUALIFY row_number() OVER "
                "(PARTITION BY id ORDER BY time DESC) = 1 ORDER BY time",
                params=[[str(f) for f in files]],
            ).df()
        finally:
            con.close()
        return _utc(df)

    # -- the monitors' one-pass aggregates (compiled in _prediction_windows.py) -----------------
    def window_aggregates(
        self,
        source: str | Sequence[Path],
        window_seconds: int,
        aggregates: Sequence[Aggregate],
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> tuple[pd.DataFrame, list[SchemaChange]]:
        """Every aggregate over each window of a model's log (``source``: its name) or of given
        Parquet files, in ONE DuckDB query; see ``_prediction_windows.window_aggregates``."""
        from loopml.store._prediction_windows import window_aggregates

        lo, hi = _epoch(since, "since"), _epoch(until, "until")
        if isinstance(source, str):
            model = source
            return self.read_retrying(
                lambda: self.files(model, lo, hi),
                lambda files: window_aggregates(self, files, window_seconds, aggregates, lo, hi),
            )
        return window_aggregates(self, list(source), window_seconds, aggregates, lo, hi)

    def feedback_accuracy(
        self, model: str, window_seconds: int, since: TimeBound = None, until: TimeBound = None
    ) -> pd.DataFrame:
        """Realized accuracy per window (by prediction time) once feedback has landed:
        ``window_start``, ``labeled`` (predictions with feedback), ``accuracy``."""
        from loopml.store._prediction_windows import feedback_accuracy

        feedback = self.feedback_files(model)
        return self.read_retrying(
            lambda: self.files(model, since, until),
            lambda files: feedback_accuracy(files, feedback, window_seconds),
        )

    # -- compaction ----------------------------------------------------------------------------
    def compact(
        self, model: str, *, closed_after: float = 600.0, now: float | None = None
    ) -> CompactionResult:
        """Merge each closed hour's parts into one file; returns what was done.

        An hour is closed ``closed_after`` seconds after it ends (late journal replays land in
        that time). Safe while servers write and readers read (see the module docstring); an
        hour that cannot be merged (columns of clashing types) is left as it is and reported.
        """
        if isinstance(closed_after, bool) or not isinstance(closed_after, (int, float)):
            raise ValidationError(f"closed_after must be seconds >= 0, not {closed_after!r}")
        if closed_after < 0:
            raise ValidationError(f"closed_after must be seconds >= 0, not {closed_after!r}")
        now = time.time() if now is None else float(now)
        result = CompactionResult(check_model_name(model))
        for start, folder in self.hour_folders(model, until=now - closed_after - 3600 + 1e-6):
            if start + 3600 + closed_after > now:
                continue
            _compact_folder(folder, result)
        return result


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _utc(df: pd.DataFrame) -> pd.DataFrame:
    """``time`` as UTC (DuckDB hands back its session zone, e.g. 'Etc/UTC')."""
    if "time" in df:
        t = df["time"]
        df["time"] = t.dt.tz_localize("UTC") if t.dt.tz is None else t.dt.tz_convert("UTC")
    return df


def _check_part(part: str) -> None:
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


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_part(table: pa.Table, folder: Path, part: str) -> Path:
    import pyarrow.parquet as pq

    final = folder / f"{part}.parquet"
    tmp = folder / f".{part}.parquet.tmp"
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final


def _write_into(folder: Path, rows: pa.Table, part: str) -> Path | None:
    """Write one hour's rows as ``part`` (the folder's lock held). When a compaction already
    merged a part of that name (a journal replayed after a crash), only rows the hour does not
    hold yet are written, under a new name, so a replay never duplicates nor loses a row."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    name = f"{part}.parquet"
    if (folder / _MARKER).exists():
        names = sorted(p.name for p in folder.glob("*.parquet"))
        live, covered = _live(folder, names)
        if name in covered:
            held: set[Any] = set()
            for other in live:
                held.update(pq.read_table(folder / other, columns=["id"]).column("id").to_pylist())
            rows = rows.filter(pc.invert(pc.is_in(rows.column("id"), value_set=_array(held))))
            if rows.num_rows == 0:
                return None
            k = 1
            while f"{part}-r{k}.parquet" in covered or (folder / f"{part}-r{k}.parquet").exists():
                k += 1
            part = f"{part}-r{k}"
    return _write_part(rows, folder, part)


def _array(values: set[Any]) -> pa.Array:
    import pyarrow as pa

    return pa.array(sorted(values), pa.string()) if values else pa.array([], pa.string())


def _compact_folder(folder: Path, result: CompactionResult) -> None:
    """Merge one closed hour folder (under its exclusive lock)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = f"{folder.parent.name}/{folder.name}"
    with _folder_lock(folder, shared=False):
        for stale in folder.glob(f".{COMPACT_PREFIX}*.tmp"):
            stale.unlink(missing_ok=True)  # a compaction that died before its rename
        names = sorted(p.name for p in folder.glob("*.parquet"))
        if len(names) <= 1:
            return  # already one file (the usual case once compacted): nothing to read
        live, covered = _live(folder, names)
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
                held |= _manifest(folder / n)
        held |= set(live)
        meta = dict(schemas[-1].metadata or {})
        meta[_MANIFEST] = json.dumps(sorted(held)).encode()
        schema = schema.with_metadata(meta)
        name = f"{COMPACT_PREFIX}{uuid.uuid4().hex}.parquet"
        tmp = folder / f".{name}.tmp"
        rows = 0
        try:
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
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
        (folder / _MARKER).touch()
        _install(tmp, folder / name)
        _fsync_dir(folder)
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
