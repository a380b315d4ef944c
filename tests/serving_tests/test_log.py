"""The prediction log's journal: a killed writer's records are replayed once, never twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow.parquet as pq

import loopml.serving
from loopml.registry import Feature, Signature
from loopml.serving._log import PredictionLog, recover

SIG = Signature((Feature("a", "float64"), Feature("k", "string")))


def _record(i: int) -> dict[str, object]:
    return {
        "r": f"req{i}",
        "t": 1_796_000_000_000_000 + i * 1000,
        "v": 1,
        "s": 200,
        "l": 1.5,
        "b": 40,
        "ids": [f"req{i}-0"],
        "in": {"a": [float(i)], "k": ["x"]},
        "p": ["yes"],
        "c": [0.9],
        "pr": [[0.1, 0.9]],
    }


def test_a_killed_writer_is_replayed(store: object) -> None:
    settings = store.settings  # type: ignore[attr-defined]
    code = textwrap.dedent(
        f"""
        import sys, time
        from loopml._config import Settings
        from loopml.store import Store
        from loopml.registry import Feature, Signature
        from loopml.serving._log import PredictionLog
        sig = Signature((Feature("a", "float64"), Feature("k", "string")))
        from pathlib import Path
        store = Store(Settings(data_dir=Path({str(settings.data_dir)!r})))
        log = PredictionLog(store, "m", sig, ["no", "yes"], flush_interval=3600)
        for i in range(50):
            log.append({{"r": f"req{{i}}", "t": 1796000000000000 + i, "v": 1, "s": 200,
                        "l": 1.0, "b": 10, "ids": [f"req{{i}}-0"], "in": {{"a": [1.0], "k": ["x"]}},
                        "p": ["yes"], "c": [0.9], "pr": [[0.1, 0.9]]}})
        log.journal.map[log.journal.position : log.journal.position + 5] = b'{{"r":'  # cut record
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert recover(store, "m") == 50  # type: ignore[arg-type]
    assert recover(store, "m") == 0  # type: ignore[arg-type]
    df = loopml.serving.predictions("m")
    assert sorted(df["id"]) == sorted(f"req{i}-0" for i in range(50))


def test_a_replay_after_a_half_done_flush_writes_no_duplicate(store: object) -> None:
    log = PredictionLog(store, "m", SIG, ["no", "yes"], flush_interval=3600)  # type: ignore[arg-type]
    for i in range(10):
        log.append(_record(i))
    log.flush()
    for i in range(10, 15):
        log.append(_record(i))
    # The part for records 10-14 is written, then the process dies before saving the offset.
    from loopml.serving._journal import read_offset, write_offset

    offset = read_offset(log.journal.path)
    log.flush()
    write_offset(log.journal.path, offset)
    log.journal.forget()  # as if killed: the file and its old offset stay, the lock goes
    assert recover(store, "m") == 5  # type: ignore[arg-type]
    df = loopml.serving.predictions("m")
    assert len(df) == 15 and df["id"].is_unique
    meta = pq.read_schema(store.predictions.files("m")[0]).metadata  # type: ignore[attr-defined]
    assert meta[b"loopml.classes"] == b'["no", "yes"]'


def test_since_and_until_bound_the_rows(store: object) -> None:
    log = PredictionLog(store, "m", SIG, ["no", "yes"], flush_interval=3600)  # type: ignore[arg-type]
    hour = 3_600_000_000
    base = 1_796_000_000_000_000 // hour * hour
    for i, t in enumerate([base, base + hour // 2, base + hour, base + 2 * hour + 5]):
        log.append({**_record(i), "t": t})
    log.close()
    files = store.predictions.files("m")  # type: ignore[attr-defined]
    assert len(files) == 3  # one part per UTC hour
    lo = base / 1e6 + 1
    df = loopml.serving.predictions("m", since=lo, until=(base + 2 * hour) / 1e6)
    assert list(df["id"]) == ["req1-0", "req2-0"]
    assert len(store.predictions.files("m", since=(base + 2 * hour) / 1e6)) == 1  # type: ignore[attr-defined]
    import pytest

    from loopml import ValidationError

    with pytest.raises(ValidationError, match="ISO"):
        loopml.serving.predictions("m", since="yesterday")


def test_the_standard_library_json_path_gives_the_same_records(monkeypatch: object) -> None:
    import numpy as np

    from loopml.serving import _json

    record = {"in": {"a": np.array([1.5, np.nan]), "n": np.array([1, 2])}, "p": ["x", None]}
    fast = _json.loads(_json.dumps(record))
    monkeypatch.setattr(_json, "_orjson", None)  # type: ignore[attr-defined]
    plain = _json.loads(_json.dumps(record))
    assert fast == plain == {"in": {"a": [1.5, None], "n": [1, 2]}, "p": ["x", None]}
    assert _json.loads(b'{"a": NaN}')["a"] != _json.loads(b'{"a": NaN}')["a"]  # NaN parses


def test_arrow_and_record_by_record_writers_build_the_same_table() -> None:
    import math

    import numpy as np

    from loopml.serving._log import _arrow_table, _dumps, _parse, _Rows

    feats = {"a": "float64", "b": "int64", "c": "bool", "d": "string"}
    one = {"a": np.array([1.0]), "b": np.array([2]), "c": np.array([True]), "d": ["x"]}
    three = {
        "a": np.array([1.0, np.nan, 3.0]),
        "b": np.array([2, 3, 4]),
        "c": np.array([True, False, True]),
        "d": ["x", None, "z"],
    }
    base = {"t": 10, "v": 1, "s": 200, "l": 1.5, "b": 10}
    records = [
        {**base, "r": "r1", "n": 1, "in": one, "p": [1], "c": [0.9], "pr": [[0.1, 0.9]]},
        {
            **base,
            "r": "r2",
            "n": 3,
            "in": three,
            "p": [0, 1, 0],
            "c": [0.9, 0.8, 0.7],
            "pr": [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]],
            "sv": 3,
            "sp": [1, 1, 0],
            "sc": [0.6, 0.6, 0.6],
        },
        {**base, "r": "r3", "s": 422, "n": 1},  # a rejected request: no inputs, no outputs
    ]
    data = b"".join(_dumps(r) for r in records)
    for classifier in (True, False):
        fast = _arrow_table(data, "m", feats, classifier)
        rows = _Rows("m", feats, classifier)
        for rec in _parse(data):
            rows.add(rec)
        slow = rows.table()
        assert fast is not None
        assert fast.schema == slow.schema
        assert fast.num_rows == slow.num_rows == 5
        for x, y in zip(fast.to_pylist(), slow.to_pylist(), strict=True):
            for key in x:
                both_nan = isinstance(x[key], float) and math.isnan(x[key]) and math.isnan(y[key])
                assert x[key] == y[key] or both_nan, key
        assert fast.column("id").to_pylist()[:4] == ["r1-0", "r2-0", "r2-1", "r2-2"]


def test_mixed_label_types_fall_back_to_the_record_by_record_writer() -> None:
    from loopml.serving._log import _arrow_table, _dumps

    base = {"t": 10, "v": 1, "s": 200, "l": 1.5, "b": 10, "n": 1, "in": {"a": [1.0]}}
    data = _dumps({**base, "r": "r1", "p": [1]}) + _dumps({**base, "r": "r2", "p": ["x"]})
    assert _arrow_table(data, "m", {"a": "float64"}, True) is None


def test_an_integer_beyond_64_bits_in_a_float_column_is_logged_as_its_float(
    store: object,
) -> None:
    log = PredictionLog(store, "m", SIG, ["no", "yes"], flush_interval=3600)  # type: ignore[arg-type]
    # What a body read by the standard parser holds: orjson cannot write this integer.
    log.append({**_record(0), "in": {"a": [10**30], "k": ["x"]}})
    # What the standard encoder writes for one (no orjson), beside a feedback record, so the
    # part is built record by record.
    log.journal.append(
        json.dumps({**_record(1), "in": {"a": [10**30], "k": ["y"]}}).encode() + b"\n"
    )
    log.append({"k": "f", "id": "req0-0", "t": 1_796_000_000_000_000, "truth": "yes"})
    assert log.flush() == 2
    log.close()
    df = loopml.serving.predictions("m")
    assert list(df["in.a"]) == [1e30, 1e30] and list(df["in.k"]) == ["x", "y"]


def test_the_writer_warms_up_once_ready_and_writes_nothing(store: object) -> None:
    log = PredictionLog(store, "m", SIG, ["no", "yes"], flush_interval=0.2).start()  # type: ignore[arg-type]
    log.ready()
    deadline = time.monotonic() + 20
    while not log.warmed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.warmed and log.errors == 0
    assert store.predictions.files("m") == []  # type: ignore[attr-defined]
    log.append(_record(0))
    log.close()
    assert list(loopml.serving.predictions("m")["id"]) == ["req0-0"]


def test_a_writer_never_told_ready_stops_at_once(store: object) -> None:
    log = PredictionLog(store, "m", SIG, ["no", "yes"], flush_interval=3600).start()  # type: ignore[arg-type]
    log.append(_record(0))
    t0 = time.monotonic()
    log.close()
    assert time.monotonic() - t0 < 5 and not log.warmed
    assert list(loopml.serving.predictions("m")["id"]) == ["req0-0"]


def test_the_columnar_reader_builds_the_same_table_as_the_record_reader() -> None:
    from loopml.serving._log import _arrow_table, _dumps, _Rows

    features = {"a": "float64", "k": "string"}
    records = [
        _record(0),  # one row, its ids implied
        {
            **_record(1),
            "n": 2,
            "in": {"a": [1.0, None], "k": ["x", "y"]},
            "p": ["no", "yes"],
            "c": [0.9, 0.8],
            "pr": [[0.1, 0.9], [0.2, 0.8]],
        },
        {"r": "req2", "t": 1_796_000_000_000_000, "v": 1, "s": 422, "l": 0.1, "b": 9, "n": 1},
        _record(3),
    ]
    for rec in records:
        rec.pop("ids", None)
        rec.setdefault("n", 1)
    # All well formed (each list one value per row), then with a rejected request's record.
    for batch in (records[:2] + records[3:], records):
        data = b"".join(_dumps(r) for r in batch)
        fast = _arrow_table(data, "m", features, True)
        rows = _Rows("m", features, True)
        for rec in batch:
            rows.add(rec)
        assert fast is not None and fast.equals(rows.table())
    assert fast.column("in.a").to_pylist() == [0.0, 1.0, None, None, 3.0]


def test_parts_dictionary_encode_labels_but_not_floats_or_ids(store: object) -> None:
    log = PredictionLog(store, "m", SIG, ["no", "yes"], flush_interval=3600)  # type: ignore[arg-type]
    for i in range(20):
        log.append(_record(i))
    log.close()
    (path,) = store.predictions.files("m")  # type: ignore[attr-defined]
    meta = pq.ParquetFile(path).metadata
    group = meta.row_group(0)
    encodings = {
        meta.schema.column(j).path: group.column(j).encodings for j in range(group.num_columns)
    }
    assert any("DICTIONARY" in e for e in encodings["prediction"])
    assert any("DICTIONARY" in e for e in encodings["in.k"])
    for plain in ("id", "time", "in.a", "confidence"):
        assert not any("DICTIONARY" in e for e in encodings[plain]), plain


def test_a_writers_mark_follows_its_flushes_and_leaves_with_its_journal(
    store: object, monkeypatch: object
) -> None:
    from loopml.serving import _log

    now = [1_796_000_000.0]
    monkeypatch.setattr(_log, "_clock", lambda: now[0])  # type: ignore[attr-defined]
    log = PredictionLog(store, "m", SIG, ["no", "yes"], flush_interval=2.0)  # type: ignore[arg-type]
    mark = log.journal.path.with_name(log.journal.path.name + ".flushed")
    assert json.loads(mark.read_text()) == {"until": now[0] - 1.0, "every": 2.0}
    log.append(_record(0))
    now[0] += 10
    assert log.flush() == 1
    assert json.loads(mark.read_text())["until"] == now[0] - 1.0  # the read's time, less slack
    now[0] += 10
    assert log.flush() == 0  # idle: the mark moves on all the same
    assert loopml.serving.log_watermark(store, "m", now[0]).until == now[0] - 1.0  # type: ignore[arg-type]
    log.close()
    assert not mark.exists() and not log.journal.path.exists()
    assert loopml.serving.log_watermark(store, "m", now[0]).until is None  # type: ignore[arg-type]
    # A dead writer's mark goes with its journal once replayed.
    dead = PredictionLog(store, "m", SIG, ["no", "yes"], flush_interval=2.0)  # type: ignore[arg-type]
    dead.append(_record(1))
    dead.journal.close(delete=False)
    assert loopml.serving.log_watermark(store, "m", now[0]).live == 0  # type: ignore[arg-type]
    assert recover(store, "m") == 1  # type: ignore[arg-type]
    assert list(dead.directory.iterdir()) == []
