"""Compaction of the prediction log: a closed hour's parts become one file, and no crash, write
or read at the same time loses or duplicates a row."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import loopml.store._prediction_compact as fmt
from loopml._config import Settings
from loopml._errors import ValidationError
from loopml.store import Store

HOUR = 1_700_006_400.0  # 2023-11-15 00:00 UTC
LATER = HOUR + 10 * 3600  # "now" for compaction: the hour is long closed


@pytest.fixture
def log(tmp_path: Path) -> Any:
    return Store(Settings(data_dir=tmp_path / "data")).predictions


def _rows(start: int, n: int, *, extra: bool = False, at: float = HOUR) -> pa.Table:
    t = (at + 1 + np.arange(start, start + n) * 0.5) * 1e6
    cols: dict[str, Any] = {
        "id": pa.array([f"r{i}-0" for i in range(start, start + n)]),
        "time": pa.array(t.astype(np.int64), pa.timestamp("us", tz="UTC")),
        "status": pa.array(np.full(n, 200, dtype=np.int16)),
        "in.x": pa.array(np.arange(start, start + n, dtype=float)),
        "prediction": pa.array(["a" if i % 2 else "b" for i in range(start, start + n)]),
    }
    if extra:
        cols["in.new"] = pa.array(np.ones(n))
    return pa.table(cols)


def _ids(log: Any) -> list[str]:
    df = log.frame("m")
    assert df["id"].is_unique, "a row was read twice"
    return sorted(df["id"])


def _expected(n: int) -> list[str]:
    return sorted(f"r{i}-0" for i in range(n))


def test_a_closed_hour_becomes_one_file_with_every_row(log: Any) -> None:
    for k in range(6):
        log.write("m", _rows(10 * k, 10, extra=k == 5), f"j1-{k:04d}", ["a", "b"])
    log.write("m", _rows(1000, 5, at=LATER - 600), "open-0", ["a", "b"])  # the current hour
    before = log.frame("m")
    result = log.compact("m", now=LATER)
    assert (result.hours, result.parts, result.rows, result.skipped) == (1, 6, 60, [])
    files = log.files("m")
    assert len(files) == 2 and files[0].name.startswith("compact-")
    assert len(list(files[0].parent.glob("*.parquet"))) == 1  # the parts are gone
    after = log.frame("m")
    assert sorted(after["id"]) == sorted(before["id"])
    merged = after.set_index("id")
    assert merged.loc["r55-0", "in.new"] == 1.0 and np.isnan(merged.loc["r3-0", "in.new"])
    assert log.classes("m") == ["a", "b"]
    assert log.compact("m", now=LATER).hours == 0  # already one file: nothing to do


def test_fresh_parts_are_cheap_lz4_and_compaction_rewrites_them_with_zstd(log: Any) -> None:
    import pyarrow.parquet as pq

    for k in range(3):
        log.write("m", _rows(10 * k, 10), f"j1-{k:04d}", ["a", "b"])
    (part,) = [p for p in log.files("m") if p.name == "j1-0000.parquet"]
    meta = pq.ParquetFile(part).metadata
    codecs = {meta.row_group(0).column(i).compression for i in range(meta.num_columns)}
    assert codecs == {"LZ4"}
    # min/max statistics only where readers prune parts: the time
    stats = {
        meta.schema.column(i).name: meta.row_group(0).column(i).is_stats_set
        for i in range(meta.num_columns)
    }
    assert stats["time"] and not stats["in.x"] and not stats["id"]
    log.compact("m", now=LATER)
    log.write("m", _rows(30, 10), "late-0001")  # a late lz4 part beside the zstd merge
    compacted = [p for p in log.files("m") if p.name.startswith("compact-")]
    merged = pq.ParquetFile(compacted[0]).metadata
    assert merged.row_group(0).column(0).compression == "ZSTD"
    assert _ids(log) == _expected(40)  # both codecs read together (DuckDB)
    # a time filter over the mixed files keeps exactly the rows of its range
    part_of = log.frame("m", since=HOUR + 1 + 5 * 0.5, until=HOUR + 1 + 35 * 0.5)
    assert sorted(part_of["id"]) == sorted(f"r{i}-0" for i in range(5, 35))


def test_an_open_hour_is_left_alone(log: Any) -> None:
    for k in range(3):
        log.write("m", _rows(10 * k, 10), f"j1-{k:04d}")
    assert log.compact("m", now=HOUR + 3600 + 599).hours == 0  # 10 minutes of grace not over
    assert log.compact("m", now=HOUR + 3600 + 601).hours == 1


def test_a_late_part_is_merged_into_the_compacted_hour(log: Any) -> None:
    for k in range(3):
        log.write("m", _rows(10 * k, 10), f"j1-{k:04d}")
    log.compact("m", now=LATER)
    log.write("m", _rows(30, 10), "late-0001")
    assert _ids(log) == _expected(40)
    assert log.compact("m", now=LATER).parts == 2
    assert len(log.files("m")) == 1 and _ids(log) == _expected(40)


def test_a_crash_after_the_merged_file_is_in_place_duplicates_nothing(
    log: Any, monkeypatch: Any
) -> None:
    for k in range(4):
        log.write("m", _rows(10 * k, 10), f"j1-{k:04d}")
    real = fmt._install

    def install_then_die(tmp: Path, final: Path) -> None:
        real(tmp, final)
        raise KeyboardInterrupt("killed between the rename and the deletes")

    monkeypatch.setattr(fmt, "_install", install_then_die)
    with pytest.raises(KeyboardInterrupt):
        log.compact("m", now=LATER)
    folder = log.files("m")[0].parent
    assert len(list(folder.glob("*.parquet"))) == 5  # merged file and the 4 parts it holds
    assert _ids(log) == _expected(40)  # the listing leaves the merged parts out
    monkeypatch.setattr(fmt, "_install", real)
    result = log.compact("m", now=LATER)
    assert result.removed == 4 and result.hours == 0
    assert len(list(folder.glob("*.parquet"))) == 1 and _ids(log) == _expected(40)


def test_a_crash_before_the_rename_leaves_the_parts_as_they_were(
    log: Any, monkeypatch: Any
) -> None:
    for k in range(4):
        log.write("m", _rows(10 * k, 10), f"j1-{k:04d}")

    def die(tmp: Path, final: Path) -> None:
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(fmt, "_install", die)
    with pytest.raises(KeyboardInterrupt):
        log.compact("m", now=LATER)
    folder = log.files("m")[0].parent
    assert list(folder.glob(".compact-*.tmp"))  # the half-done merge is hidden
    assert len(log.files("m")) == 4 and _ids(log) == _expected(40)
    monkeypatch.undo()
    assert log.compact("m", now=LATER).hours == 1
    assert not list(folder.glob(".compact-*.tmp")) and _ids(log) == _expected(40)


def test_a_replay_of_a_compacted_part_writes_only_the_missing_rows(log: Any) -> None:
    log.write("m", _rows(0, 10), "j1-0000")
    log.write("m", _rows(10, 10), "j2-0000")
    log.compact("m", now=LATER)
    # The writer died after writing j1-0000 but before saving its offset; the journal had
    # grown since, so the replay rewrites j1-0000 with more rows than the merged part held.
    log.write("m", pa.concat_tables([_rows(0, 10), _rows(20, 5)]), "j1-0000")
    assert _ids(log) == _expected(25)
    log.write("m", pa.concat_tables([_rows(0, 10), _rows(20, 5)]), "j1-0000")  # and again
    assert _ids(log) == _expected(25)
    log.compact("m", now=LATER)
    assert len(log.files("m")) == 1 and _ids(log) == _expected(25)


def test_writers_readers_and_the_compactor_at_the_same_time(log: Any) -> None:
    n_parts, errors = 40, []
    done = threading.Event()

    def write() -> None:
        try:
            for k in range(n_parts):
                log.write("m", _rows(10 * k, 10), f"w-{k:04d}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def compact() -> None:
        try:
            while not done.is_set():
                log.compact("m", now=LATER)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=compact)]
    for t in threads:
        t.start()
    seen = 0
    while not done.is_set():
        ids = _ids(log)  # never a duplicate, never fewer rows than an earlier read saw
        assert len(ids) >= seen
        seen = len(ids)
    for t in threads:
        t.join()
    assert errors == []
    log.compact("m", now=LATER)
    assert len(log.files("m")) == 1 and _ids(log) == _expected(10 * n_parts)


def test_a_reader_whose_files_were_compacted_away_reads_again(log: Any) -> None:
    for k in range(3):
        log.write("m", _rows(10 * k, 10), f"j1-{k:04d}")
    stale = log.files("m")
    log.compact("m", now=LATER)
    listings = iter([stale, log.files("m")])
    df = log.read_retrying(lambda: next(listings), lambda files: log.columns(files))
    assert "in.x" in df[0]


def test_parts_of_clashing_types_are_left_as_they_are(log: Any) -> None:
    log.write("m", _rows(0, 10), "j1-0000")
    other = _rows(10, 10).set_column(3, "in.x", pa.array([f"s{i}" for i in range(10)]))
    log.write("m", other, "j1-0001")
    result = log.compact("m", now=LATER)
    assert result.hours == 0 and "clash" in result.skipped[0]
    assert len(log.files("m")) == 2


def test_bad_inputs_are_refused(log: Any) -> None:
    with pytest.raises(ValidationError, match="closed_after"):
        log.compact("m", closed_after=-1)
    with pytest.raises(ValidationError, match="model name"):
        log.compact("../x")
    with pytest.raises(ValidationError, match="compact"):
        log.write("m", _rows(0, 1), "compact-1")
    with pytest.raises(ValidationError, match="time"):
        log.write("m", _rows(0, 1).drop_columns(["time"]), "p1")
    assert log.compact("nothing-logged").hours == 0


def test_the_cli_compacts_a_models_log(tmp_path: Path, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from loopml.cli import app
    from loopml.tracking import Session, set_default_session

    session = Session(Settings(data_dir=tmp_path / "cli"))
    set_default_session(session)
    try:
        for k in range(3):
            session.store.predictions.write("m", _rows(10 * k, 10), f"j1-{k:04d}")
        runner = CliRunner()
        r = runner.invoke(app, ["monitor", "compact", "m"])
        assert r.exit_code == 0, r.output
        assert "1 hour(s) compacted (3 parts, 30 rows" in r.output
        assert len(session.store.predictions.files("m")) == 1
        r = runner.invoke(app, ["monitor", "compact", "m", "--closed-after", "later"])
        assert r.exit_code != 0 and "--closed-after" in r.output
    finally:
        set_default_session(None)
        session.store.close()
