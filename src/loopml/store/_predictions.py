"""The prediction log's store surface: hourly Parquet parts and feedback parts per model.

Reached as ``store.predictions``. Layout (see the prediction log contract in ``docs/serving.md``)::

    <data_dir>/predictions/<model>/date=YYYY-MM-DD/hour=HH/<part>.parquet
    <data_dir>/predictions/<model>/feedback/date=YYYY-MM-DD/<part>.parquet
    <data_dir>/predictions/<model>/_journals/      (serving's crash-safe journals)

A part is written as ``.<part>.parquet.tmp`` and renamed into place, so a reader that globs
``*.parquet`` sees whole files only. Part names are chosen by the writer; writing the same name
again replaces it, which is what makes a journal replay after a crash idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.store._models import check_model_name

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from loopml.store._store import Store

__all__ = ["PredictionStore"]

_UTC = dt.UTC
TimeBound = dt.datetime | str | float | None


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


class PredictionStore:
    """Writes and reads the prediction log of each model. Safe across threads and processes:
    every part is written whole and renamed into place."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def directory(self) -> Path:
        """``<data_dir>/predictions``."""
        return self._store.data_dir / "predictions"

    def model_dir(self, model: str) -> Path:
        """The folder of one model's log."""
        return self.directory / check_model_name(model)

    def journal_dir(self, model: str) -> Path:
        """Where serving keeps the crash-safe journals of ``model`` until they are written out."""
        path = self.model_dir(model) / "_journals"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- writes --------------------------------------------------------------------------------
    def write(
        self, model: str, table: pa.Table, part: str, classes: Sequence[Any] | None = None
    ) -> list[Path]:
        """Write prediction rows as one part per UTC hour they span (named ``part``); the paths."""
        import pyarrow as pa
        import pyarrow.compute as pc

        _check_part(part)
        if table.num_rows == 0:
            return []
        meta = {b"loopml.classes": json.dumps(list(classes or [])).encode()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
        hours = pc.floor_temporal(table.column("time"), unit="hour")
        written = []
        for hour in pc.unique(hours).to_pylist():
            rows = table.filter(pc.equal(hours, pa.scalar(hour, type=hours.type)))
            folder = self.model_dir(model) / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
            written.append(_write_part(rows, folder, part))
        return written

    def write_feedback(self, model: str, table: pa.Table, part: str) -> list[Path]:
        """Write feedback rows (``id``, ``time``, ``truth``), one part per UTC date."""
        import pyarrow as pa
        import pyarrow.compute as pc

        _check_part(part)
        if table.num_rows == 0:
            return []
        days = pc.floor_temporal(table.column("time"), unit="day")
        written = []
        for day in pc.unique(days).to_pylist():
            rows = table.filter(pc.equal(days, pa.scalar(day, type=days.type)))
            folder = self.model_dir(model) / "feedback" / f"date={day:%Y-%m-%d}"
            written.append(_write_part(rows, folder, part))
        return written

    # -- reads ---------------------------------------------------------------------------------
    def models(self) -> list[str]:
        """Models that have a prediction log."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if p.is_dir())

    def files(self, model: str, since: TimeBound = None, until: TimeBound = None) -> list[Path]:
        """The complete part files of ``model`` whose hour overlaps ``[since, until)``."""
        lo = _as_datetime(since, "since")
        hi = _as_datetime(until, "until")
        root = self.model_dir(model)
        out = []
        for path in sorted(root.glob("date=*/hour=*/*.parquet")):
            try:
                hour = dt.datetime.strptime(
                    f"{path.parent.parent.name[5:]} {path.parent.name[5:]}", "%Y-%m-%d %H"
                ).replace(tzinfo=_UTC)
            except ValueError:
                continue  # not a part this surface wrote
            if lo is not None and hour + dt.timedelta(hours=1) <= lo:
                continue
            if hi is not None and hour >= hi:
                continue
            out.append(path)
        return out

    def feedback_files(self, model: str) -> list[Path]:
        """The complete feedback part files of ``model``."""
        return sorted((self.model_dir(model) / "feedback").glob("date=*/*.parquet"))

    def relation(
        self,
        con: duckdb.DuckDBPyConnection,
        model: str,
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> duckdb.DuckDBPyRelation | None:
        """A DuckDB relation over the log of ``model`` in ``[since, until)`` (None when empty).

        Files written under different schemas (a feature added or removed) are read by name.
        """
        files = self.files(model, since, until)
        if not files:
            return None
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
        query = (
            "SELECT * EXCLUDE (date, hour) FROM read_parquet(?, union_by_name=true, "
            f'hive_partitioning=true) WHERE {" AND ".join(cond)} ORDER BY "time"'
        )
        return con.sql(query, params=[[str(f) for f in files], *params])

    def frame(self, model: str, since: TimeBound = None, until: TimeBound = None) -> pd.DataFrame:
        """The log of ``model`` in ``[since, until)`` as a DataFrame, oldest first."""
        import duckdb
        import pandas as pd

        con = duckdb.connect()
        try:
            rel = self.relation(con, model, since, until)
            if rel is None:
                return pd.DataFrame(
                    {"id": pd.Series(dtype=str), "time": pd.Series(dtype="datetime64[us, UTC]")}
                )
            df = rel.df()
        finally:
            con.close()
        return _utc(df)

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

    def classes(self, model: str) -> list[Any] | None:
        """The class list recorded in the newest part of ``model``'s log (None without parts)."""
        import pyarrow.parquet as pq

        files = self.files(model)
        if not files:
            return None
        meta = pq.read_schema(files[-1]).metadata or {}
        raw = meta.get(b"loopml.classes")
        return None if raw is None else list(json.loads(raw))


def _utc(df: pd.DataFrame) -> pd.DataFrame:
    """``time`` as UTC (DuckDB hands back its session zone, e.g. 'Etc/UTC')."""
    if "time" in df:
        t = df["time"]
        df["time"] = t.dt.tz_localize("UTC") if t.dt.tz is None else t.dt.tz_convert("UTC")
    return df


def _check_part(part: str) -> None:
    if not part or "/" in part or part.startswith(".") or not part.replace("-", "").isalnum():
        raise ValidationError(f"part name {part!r} must be letters, digits and '-' only")


def _write_part(table: pa.Table, folder: Path, part: str) -> Path:
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{part}.parquet"
    tmp = folder / f".{part}.parquet.tmp"
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final
