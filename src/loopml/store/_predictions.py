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
``_prediction_windows.py``; the files, locks and part writes in ``_prediction_files.py``; the
merge itself in ``_prediction_compact.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loopml._errors import NotFoundError, ValidationError
from loopml.store._model_names import check_model_name
from loopml.store._prediction_compact import CompactionResult, compact_folder
from loopml.store._prediction_files import (
    ServiceLock,
    TimeBound,
    as_datetime,
    check_part,
    epoch,
    folder_lock,
    hour_of,
    is_missing_file,
    list_folder,
    plain,
    write_into,
    write_part,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from loopml.store._prediction_windows import Aggregate
    from loopml.store._store import Store

__all__ = ["PredictionStore", "SchemaChange"]

T = TypeVar("T")
_READ_TRIES = 10


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A column that appeared or disappeared in the log's history."""

    column: str
    change: str  # added, removed
    first_file: str  # the first file (in time order) showing the change


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
        check_part(part)
        if "time" not in table.column_names:
            raise ValidationError("a prediction log table needs a 'time' column (UTC timestamps)")
        if table.num_rows == 0:
            return []
        meta = {b"loopml.classes": json.dumps([plain(c) for c in classes or []]).encode()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
        hours = pc.floor_temporal(table.column("time"), unit="hour")
        written = []
        root = self.model_dir(model)
        spanned = pc.unique(hours).to_pylist()
        for hour in spanned:
            if len(spanned) == 1:  # the usual part: all in one hour, no copy needed
                rows = table
            else:
                rows = table.filter(pc.equal(hours, pa.scalar(hour, type=hours.type)))
            when = hour if hour.tzinfo is None else hour.astimezone(dt.UTC)
            folder = root / f"date={when:%Y-%m-%d}" / f"hour={when:%H}"
            folder.mkdir(parents=True, exist_ok=True)
            with folder_lock(folder, shared=False):
                path = write_into(folder, rows, part)
            if path is not None:
                written.append(path)
        return written

    def write_feedback(self, model: str, table: pa.Table, part: str | None = None) -> list[Path]:
        """Write feedback rows (``id``, ``time``, ``truth``), one part per UTC date."""
        import pyarrow as pa
        import pyarrow.compute as pc

        part = uuid.uuid4().hex if part is None else part
        check_part(part)
        missing = {"id", "time", "truth"} - set(table.column_names)
        if missing:
            raise ValidationError(f"a feedback table needs id, time and truth; {missing} missing")
        if table.num_rows == 0:
            return []
        days = pc.floor_temporal(table.column("time"), unit="day")
        written = []
        for day in pc.unique(days).to_pylist():
            rows = table.filter(pc.equal(days, pa.scalar(day, type=days.type)))
            when = day if day.tzinfo is None else day.astimezone(dt.UTC)
            folder = self.model_dir(model) / "feedback" / f"date={when:%Y-%m-%d}"
            folder.mkdir(parents=True, exist_ok=True)
            written.append(write_part(rows, folder, part))
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
        lo, hi = epoch(since, "since"), epoch(until, "until")
        root = self.model_dir(model)
        if not root.is_dir():
            return []
        out = []
        for folder in root.glob("date=*/hour=*"):
            start = hour_of(folder)
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
            p for _, folder in self.hour_folders(model, since, until) for p in list_folder(folder)
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
                if attempt + 1 == _READ_TRIES or not is_missing_file(exc):
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
        lo = as_datetime(since, "since")
        hi = as_datetime(until, "until")
        cond, params = ["true"], []
        if lo is not None:
            cond.append('"time" >= ?')
            params.append(lo)
        if hi is not None:
            cond.append('"time" < ?')
            params.append(hi)
        # Imported here, not with the module: a server worker opens its prediction log with this
        # module before it answers, and never queries (_duck imports the filter parser).
        from loopml.store._duck import quote_ident as quote

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

        lo, hi = epoch(since, "since"), epoch(until, "until")
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
            compact_folder(folder, result)
        return result


def _utc(df: pd.DataFrame) -> pd.DataFrame:
    """``time`` as UTC (DuckDB hands back its session zone, e.g. 'Etc/UTC')."""
    if "time" in df:
        t = df["time"]
        df["time"] = t.dt.tz_localize("UTC") if t.dt.tz is None else t.dt.tz_convert("UTC")
    return df
