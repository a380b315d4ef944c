"""The prediction log writer: the request path appends one journal record per answered request;
a background thread turns new records into Parquet parts through ``store.predictions``.

Journals of dead servers (their lock can be taken) are replayed at start and every few seconds,
so every answered prediction reaches the log even after a SIGKILL.

Each writer also keeps a mark beside its journal, ``<journal>.flushed``: every row timed before
``until`` is in the log's Parquet parts (rewritten at each flush, idle or not). The minimum over
the live writers (:func:`log_watermark`) is the log's watermark: a monitor computes a window
only once it has passed the window's end, so no window is frozen before its rows are in.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.serving._journal import (
    Journal,
    complete_records,
    read_offset,
    try_lock,
    write_offset,
)
from loopml.serving._json import dumps, loads

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.registry import Signature
    from loopml.store import Store

__all__ = ["LogWatermark", "PredictionLog", "log_watermark", "recover"]

_log = logging.getLogger("loopml.serving")
_ROTATE_BYTES = 256 << 20
_WARM_DELAY = 0.5  # seconds after the server is ready before the writer warms up
# A record's time is read just before it is journaled (the request path builds and encodes the
# record in between): a flush that read the journal at time T holds every record timed before
# T minus this, and the mark says so.
_APPEND_SLACK = 1.0
# A live writer whose mark lags more than this many of its flush intervals (plus a margin) is
# stuck (its store unreachable, a huge part): the watermark goes on without it, and its rows,
# once written, are late rows for the monitors to handle.
_STALE_FLUSHES = 10
_STALE_MARGIN = 30.0
_MARK_SUFFIX = ".flushed"
_clock = time.time  # the mark's clock (tests replace it)
_ARROW_TYPES = {
    "float64": "float64",
    "int64": "int64",
    "bool": "bool_",
    "string": "string",
    "category": "string",
}


def _dumps(record: dict[str, Any]) -> bytes:
    # One line: neither encoder writes a raw newline or NUL inside a record.
    try:
        return dumps(record) + b"\n"
    except TypeError:
        inputs = record.get("in")
        if not inputs:
            raise
        # An integer beyond 64 bits in a float column (a body only the standard parser read):
        # log the float the request was checked as.
        fixed = {k: [_in_range(v) for v in values] for k, values in inputs.items()}
        return dumps({**record, "in": fixed}) + b"\n"


_INT64 = (-(1 << 63), (1 << 63) - 1)


def _in_range(value: Any) -> Any:
    if type(value) is int and not _INT64[0] <= value <= _INT64[1]:
        return float(value)
    return value


def _array(values: list[Any], typ: pa.DataType) -> pa.Array:
    """``values`` as an Arrow array of ``typ``; integers too large for int64 in a float column
    (which the JSON encoder may write) are read as the floats they stand for."""
    import pyarrow as pa

    try:
        return pa.array(values, typ)
    except (pa.ArrowInvalid, OverflowError):
        if not pa.types.is_floating(typ):
            raise
        return pa.array([None if v is None else float(v) for v in values], typ)


class _Rows:
    """Column lists for one Parquet part, built from a batch of parsed records.

    Records are kept as parsed and turned into columns all at once in :meth:`table` (one
    comprehension per column), which costs a few microseconds per record: this runs in the
    serving process, beside the requests, so it must stay cheap.
    """

    def __init__(self, model: str, features: dict[str, str], classifier: bool) -> None:
        self.model = model
        self.features = dict(features)
        self.classifier = classifier
        self.records: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self.n = 0
        self.feedback: dict[str, list[Any]] = {"id": [], "time": [], "truth": []}

    def add(self, rec: dict[str, Any]) -> None:
        if rec.get("k") == "f":
            fb = self.feedback
            fb["id"].append(rec["id"])
            fb["time"].append(rec["t"])
            truth = rec["truth"]
            fb["truth"].append(str(truth) if self.classifier else float(truth))
            return
        ids = rec.get("ids")
        n = len(ids) if ids is not None else int(rec["n"])
        self.records.append(rec)
        self.sizes.append(n)
        self.n += n

    def _ids(self) -> list[str]:
        out: list[str] = []
        for rec, n in zip(self.records, self.sizes, strict=True):
            ids = rec.get("ids")
            out.extend(ids if ids is not None else [f"{rec['r']}-{i}" for i in range(n)])
        return out

    def _each(self, key: str) -> list[Any]:
        """One value per record, repeated for each of its rows."""
        if self.n == len(self.records):  # one row each: the common case under load
            return [rec.get(key) for rec in self.records]
        out: list[Any] = []
        for rec, n in zip(self.records, self.sizes, strict=True):
            value = rec.get(key)
            out.extend([value] * n if n != 1 else (value,))
        return out

    def _rows(self, values: list[Any]) -> list[Any]:
        """Per-row lists (one per record, or None) laid end to end."""
        if None not in values:
            return list(chain.from_iterable(values))
        out: list[Any] = []
        for value, n in zip(values, self.sizes, strict=True):
            if value is None:
                out.extend([None] * n)
            else:
                out.extend(value)
        return out

    def _out(self, key: str, text: bool = False) -> list[Any]:
        values = self._rows([rec.get(key) for rec in self.records])
        if text and self.classifier:
            return [v if v is None or type(v) is str else str(v) for v in values]
        if text:
            return [None if v is None else float(v) for v in values]
        return values

    def table(self) -> pa.Table:
        import pyarrow as pa

        ts = pa.timestamp("us", tz="UTC")
        pred = pa.string() if self.classifier else pa.float64()
        recs = self.records
        arrays: dict[str, pa.Array] = {
            "id": pa.array(self._ids(), pa.string()),
            "request_id": pa.array(self._each("r"), pa.string()),
            "time": pa.array(self._each("t"), pa.int64()).cast(ts),
            "model": pa.array([self.model] * self.n, pa.string()),
            "model_version": pa.array(self._each("v"), pa.int32()),
            "status": pa.array(self._each("s"), pa.int16()),
            "latency_ms": pa.array(self._each("l"), pa.float64()),
            "payload_bytes": pa.array(self._each("b"), pa.int32()),
        }
        inputs = [rec.get("in") or {} for rec in recs]
        names = set(self.features)
        for given in inputs:
            if given.keys() - names:
                names |= given.keys()
        order = {name: i for i, name in enumerate(self.features)}
        for name in sorted(names, key=lambda k: (order.get(k, len(order)), k)):
            kind = self.features.get(name)
            values = self._rows([given.get(name) for given in inputs])
            typ = getattr(pa, _ARROW_TYPES[kind])() if kind else None
            arrays[f"in.{name}"] = _array(values, typ) if typ else pa.array(values)
        arrays["prediction"] = pa.array(self._out("p", text=True), pred)
        arrays["confidence"] = pa.array(self._out("c"), pa.float64())
        arrays["probabilities"] = pa.array(self._out("pr"), pa.list_(pa.float64()))
        arrays["shadow_model_version"] = pa.array(self._each("sv"), pa.int32())
        arrays["shadow_prediction"] = pa.array(self._out("sp", text=True), pred)
        arrays["shadow_confidence"] = pa.array(self._out("sc"), pa.float64())
        return pa.table(arrays)

    def feedback_table(self) -> pa.Table:
        import pyarrow as pa

        fb = self.feedback
        return pa.table(
            {
                "id": pa.array(fb["id"], pa.string()),
                "time": pa.array(fb["time"], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                "truth": pa.array(fb["truth"], pa.string() if self.classifier else pa.float64()),
            }
        )


_FEEDBACK_PREFIX = b'{"k":"f"'


def _arrow_table(
    data: bytes, model: str, features: dict[str, str], classifier: bool
) -> pa.Table | None:
    """The rows of ``data`` (prediction records only) parsed by Arrow's JSON reader.

    It builds the columns in C++ without the GIL, so the requests keep the interpreter while
    it runs. The same table :class:`_Rows` builds; None when the records hold something it
    does not read the same way (mixed label types, ...), and the caller uses :class:`_Rows`.
    """
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    ins = [
        pa.field(name, pa.list_(getattr(pa, _ARROW_TYPES[kind])()))
        for name, kind in features.items()
    ]
    schema = pa.schema(
        [
            ("r", pa.string()),
            ("t", pa.int64()),
            ("v", pa.int64()),
            ("s", pa.int64()),
            ("l", pa.float64()),
            ("b", pa.int64()),
            ("n", pa.int64()),
            ("in", pa.struct(ins)),
            ("c", pa.list_(pa.float64())),
            ("pr", pa.list_(pa.list_(pa.float64()))),
            ("sv", pa.int64()),
            ("sc", pa.list_(pa.float64())),
        ]
    )
    try:
        raw = pj.read_json(
            io.BytesIO(data),
            read_options=pj.ReadOptions(use_threads=False, block_size=max(len(data), 1 << 20)),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer"
            ),
        ).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    names = set(raw.column_names)
    if "ids" in names or "k" in names or raw.column("n").null_count:
        return None  # ids written out, or feedback mixed in: the record-by-record path
    pred = pa.string() if classifier else pa.float64()
    label_ok = (
        (pa.types.is_string, pa.types.is_integer)
        if classifier
        else (
            pa.types.is_floating,
            pa.types.is_integer,
        )
    )
    for key in ("p", "sp"):
        if key in names:
            typ = raw.column(key).type
            if not pa.types.is_list(typ) or not (
                pa.types.is_null(typ.value_type) or any(ok(typ.value_type) for ok in label_ok)
            ):
                return None
    if set(raw.column("in").type.names) - set(features) if raw.num_rows else False:
        return None
    sizes = raw.column("n").to_numpy()
    total = int(sizes.sum())
    parent = np.repeat(np.arange(raw.num_rows), sizes)
    starts = np.cumsum(sizes) - sizes
    pos = np.arange(total) - np.repeat(starts, sizes)
    take_parent = pa.array(parent)

    def per_record(key: str, typ: pa.DataType) -> pa.Array:
        if key not in names:
            return pa.nulls(total, typ)
        return (
            raw.column(key).chunk(0).take(take_parent).cast(typ)
            if raw.column(key).num_chunks
            else pa.nulls(total, typ)
        )

    def per_row(lists: pa.Array | None, typ: pa.DataType) -> pa.Array:
        if lists is None or total == 0:
            return pa.nulls(total, typ)
        if lists.null_count == 0 and np.array_equal(np.diff(np.asarray(lists.offsets)), sizes):
            return lists.flatten().cast(typ)  # each record's list holds one value per row
        valid = np.asarray(lists.is_valid().to_numpy(zero_copy_only=False), dtype=bool)[parent]
        lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy()[parent]
        offsets = np.asarray(lists.offsets)[:-1][parent]
        ok = valid & (pos < lengths)
        idx = pa.array(np.where(ok, offsets + pos, 0), mask=~ok)
        values = lists.values
        if len(values) == 0:
            return pa.nulls(total, typ)
        return values.take(idx).cast(typ)

    def column(key: str) -> pa.Array | None:
        if key not in names or raw.column(key).num_chunks == 0:
            return None
        return raw.column(key).chunk(0)

    rid = per_record("r", pa.string())
    ids = pc.binary_join_element_wise(rid, pa.array(pos).cast(pa.string()), "-")
    arrays: dict[str, pa.Array] = {
        "id": ids,
        "request_id": rid,
        "time": per_record("t", pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "model": pa.array([model] * total, pa.string()),
        "model_version": per_record("v", pa.int32()),
        "status": per_record("s", pa.int16()),
        "latency_ms": per_record("l", pa.float64()),
        "payload_bytes": per_record("b", pa.int32()),
    }
    inputs = column("in")
    for name, kind in features.items():
        child = None
        if inputs is not None:
            child = inputs.field(name)
            if inputs.null_count:  # a record without inputs (a rejected request)
                child = pc.if_else(inputs.is_valid(), child, pa.nulls(len(child), child.type))
        arrays[f"in.{name}"] = per_row(child, getattr(pa, _ARROW_TYPES[kind])())
    arrays["prediction"] = per_row(column("p"), pred)
    arrays["confidence"] = per_row(column("c"), pa.float64())
    arrays["probabilities"] = per_row(column("pr"), pa.list_(pa.float64()))
    arrays["shadow_model_version"] = per_record("sv", pa.int32())
    arrays["shadow_prediction"] = per_row(column("sp"), pred)
    arrays["shadow_confidence"] = per_row(column("sc"), pa.float64())
    return pa.table(arrays)


def _parse(data: bytes) -> list[dict[str, Any]]:
    """Every record of ``data`` (complete lines), parsed in one call."""
    body = data.rstrip(b"\n")
    if not body:
        return []
    records: list[dict[str, Any]] = loads(b"[" + body.replace(b"\n", b",") + b"]")
    return records


def _features_of(signature: Signature | None) -> dict[str, str]:
    return {} if signature is None else {f.name: f.dtype for f in signature.features}


def _write_records(
    store: Store,
    model: str,
    data: bytes,
    part: str,
    features: dict[str, str],
    classifier: bool,
    classes: Sequence[Any] | None,
) -> int:
    """Write the complete records in ``data`` as part ``part``; returns the rows written."""
    import gc

    if features and _FEEDBACK_PREFIX not in data:
        fast = _arrow_table(data, model, features, classifier)
        if fast is not None:
            if fast.num_rows:
                store.predictions.write(model, fast, part, classes)
            return int(fast.num_rows)
    rows = _Rows(model, features, classifier)
    # Parsing makes tens of objects per record, none of them in a reference cycle: without the
    # pause, the cyclic collector would run many times over the whole heap while it parses.
    paused = gc.isenabled()
    gc.disable()
    try:
        for rec in _parse(data):
            rows.add(rec)
        table = rows.table() if rows.n else None
    finally:
        if paused:
            gc.enable()
    if table is not None:
        store.predictions.write(model, table, part, classes)
    if rows.feedback["id"]:
        store.predictions.write_feedback(model, rows.feedback_table(), part)
    return rows.n


def _warm_writer(features: dict[str, str], classifier: bool) -> None:
    """Run the Parquet path once on a made-up record, in memory, writing nothing to the log.

    The first part a process writes pays for importing pyarrow's JSON reader, compute
    functions and Parquet writer (and pandas, which pyarrow imports on its first array) and
    for setting up the codec: about 0.3 s of CPU. Paid at the first flush, that lands in the
    middle of traffic; paid here, it lands right after the server became ready.
    """
    import io

    import pyarrow.parquet as pq

    if not features:
        return
    value = {"float64": 0.0, "int64": 0, "bool": False, "string": "", "category": ""}
    record = {
        "r": "warm",
        "t": 0,
        "v": 1,
        "s": 200,
        "l": 0.0,
        "b": 0,
        "n": 1,
        "in": {name: [value.get(kind)] for name, kind in features.items()},
        "p": ["a" if classifier else 0.0],
        "c": [1.0] if classifier else None,
        "pr": [[1.0]] if classifier else None,
    }
    table = _arrow_table(_dumps(record), "warm", features, classifier)
    if table is not None:
        # The codec of the store's fresh parts (``FRESH_CODEC``, private to the store).
        pq.write_table(table, io.BytesIO(), compression="lz4")


class PredictionLog:
    """One serving process's prediction log for model ``model``. Thread-safe."""

    def __init__(
        self,
        store: Store,
        model: str,
        signature: Signature | None,
        classes: Sequence[Any] | None,
        *,
        flush_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.model = model
        self.features = _features_of(signature)
        self.classes = list(classes) if classes is not None else None
        self.classifier = classes is not None
        self.flush_interval = flush_interval
        self.directory = store.predictions.journal_dir(model)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.journal = self._new_journal()
        self._flushed = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.warmed = False  # the writer ran its Parquet path once before the first flush
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="loopml-prediction-log", daemon=True)

    def _new_journal(self) -> Journal:
        journal = Journal(self.directory / f"{uuid.uuid4().hex}.journal")
        # Nothing is journaled yet (the caller holds the append lock, or no request is served).
        _write_mark(journal.path, _clock() - _APPEND_SLACK, self.flush_interval)
        return journal

    def start(self) -> PredictionLog:
        """Replay dead servers' journals, then write out new records in the background."""
        recover(self.store, self.model, self.features, self.classes)
        self._thread.start()
        return self

    def ready(self) -> None:
        """The server answers requests now: the writer warms its Parquet path soon after (see
        :func:`_warm_writer`) instead of at its first flush."""
        self._ready.set()

    def set_signature(self, signature: Signature | None, classes: Sequence[Any] | None) -> None:
        """A new model version took over: its features join the log's columns."""
        with self._flush_lock:
            self.features.update(_features_of(signature))
            if classes is not None:
                self.classes = list(classes)

    # -- the request path ------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Journal one answered request (or a feedback record ``{"k": "f", ...}``)."""
        line = _dumps(record)
        with self._lock:
            self.journal.append(line)

    # -- the background writer -------------------------------------------------------------------
    def flush(self) -> int:
        """Write what was journaled since the last flush as Parquet; returns the rows written."""
        with self._flush_lock:
            with self._lock:
                journal = self.journal
                start, end = self._flushed, journal.position
                data = journal.read(start, end) if end > start else b""
                read_at = _clock()  # every record appended before now is in ``data``
            n = 0
            if data:
                n = _write_records(
                    self.store,
                    self.model,
                    data,
                    f"{journal.id}-{start:012d}",
                    self.features,
                    self.classifier,
                    self.classes,
                )
                write_offset(journal.path, end)
                self._flushed = end
            # Written when idle too: the watermark must move on while no request comes.
            _write_mark(journal.path, read_at - _APPEND_SLACK, self.flush_interval)
            if end > _ROTATE_BYTES:
                with self._lock:
                    if self.journal.position == self._flushed:
                        old, self.journal = self.journal, self._new_journal()
                        self._flushed = 0
                        _mark_path(old.path).unlink(missing_ok=True)
                        old.close(delete=True)
            return n

    def _run(self) -> None:
        started = time.monotonic()
        # Warm once the server is ready, a moment later: the first requests (a readiness probe,
        # a client waiting for the server) need not share the interpreter with the imports.
        delay = min(_WARM_DELAY, self.flush_interval)
        if self._ready.wait(self.flush_interval) and not self._stop.wait(delay):
            try:
                _warm_writer(dict(self.features), self.classifier)
                self.warmed = True
            except Exception:  # only a warm-up: the first flush does the same work
                _log.debug("warming the prediction log writer failed", exc_info=True)
        last_recover = time.monotonic()
        wait = max(0.0, self.flush_interval - (last_recover - started))
        while not self._stop.wait(wait):
            wait = self.flush_interval
            try:
                self.flush()
                if time.monotonic() - last_recover > 10:
                    last_recover = time.monotonic()
                    recover(self.store, self.model, self.features, self.classes)
            except Exception:  # the journal keeps everything; try again next time
                self.errors += 1
                _log.exception("writing the prediction log failed; will retry")

    def close(self) -> None:
        """Stop the writer, write out the rest, and delete the journal once it is all written."""
        self._stop.set()
        self._ready.set()  # a writer still waiting for readiness stops at once
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        try:
            self.flush()
        except Exception:
            _log.exception("writing the prediction log failed; the journal is kept for replay")
            self.journal.close(delete=False)
            return
        _mark_path(self.journal.path).unlink(missing_ok=True)
        self.journal.close(delete=True)


def recover(
    store: Store,
    model: str,
    features: dict[str, str] | None = None,
    classes: Sequence[Any] | None = None,
) -> int:
    """Write out the journals of dead servers of ``model``; returns the rows recovered."""
    directory = store.predictions.journal_dir(model)
    total = 0
    for path in sorted(directory.glob("*.journal")):
        fd = try_lock(path)
        if fd is None:
            continue  # a live server owns it
        try:
            start = read_offset(path)
            with open(path, "rb") as f:
                f.seek(start)
                data = complete_records(f.read())
            if data:
                total += _write_records(
                    store,
                    model,
                    data,
                    f"{path.name.split('.')[0]}-{start:012d}",
                    features or {},
                    classes is not None or _looks_classifier(data),
                    classes,
                )
            path.with_name(path.name + ".offset").unlink(missing_ok=True)
            _mark_path(path).unlink(missing_ok=True)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return total


def _looks_classifier(data: bytes) -> bool:
    for line in data.split(b"\n"):
        if line:
            rec = loads(line)
            if rec.get("k") != "f" and rec.get("p") is not None:
                return rec.get("pr") is not None or any(isinstance(v, str) for v in rec["p"])
    return True


def journal_files(directory: Path) -> Iterable[Path]:
    """The journals in ``directory``."""
    return sorted(directory.glob("*.journal"))


def _mark_path(journal: Path) -> Path:
    return journal.with_name(journal.name + _MARK_SUFFIX)


def _write_mark(journal: Path, until: float, every: float) -> None:
    """Record (atomically) that every row of ``journal`` timed before ``until`` is written out;
    ``every``: the writer's flush interval (how soon the reader may expect the next mark)."""
    path = _mark_path(journal)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps({"until": until, "every": every}))
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class LogWatermark:
    """How far a model's prediction log is complete (see :func:`log_watermark`)."""

    until: float | None  # every row timed before it is written out; None: no live writer
    live: int  # live writers whose mark counts
    stale: tuple[str, ...] = ()  # journals of live writers whose mark stopped (left out)


def log_watermark(store: Store, model: str, now: float | None = None) -> LogWatermark:
    """The minimum "flushed up to" mark over the live writers of ``model``'s log.

    A writer is live while its process holds its journal's lock; a dead one is left out (its
    journal is replayed by the next writer, and its rows arrive late). So is a live writer whose
    mark lags ``now`` by more than ten of its flush intervals plus 30 s (stuck), and a writer that
    has no mark yet (it has journaled nothing).
    """
    if not isinstance(model, str) or not model:
        raise ValidationError(f"model must be a model name, not {model!r}")
    now = _clock() if now is None else float(now)
    if not store.predictions.model_dir(model).is_dir():
        return LogWatermark(None, 0)
    marks: list[float] = []
    stale: list[str] = []
    for path in journal_files(store.predictions.journal_dir(model)):
        # The mark first: a writer without one has journaled nothing and does not count. (A
        # journal is visible only once its writer holds its lock: see loopml._journal.)
        try:
            mark = json.loads(_mark_path(path).read_text())
            until, every = float(mark["until"]), float(mark["every"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # gone since the listing, or nothing journaled yet
        fd = try_lock(path)
        if fd is not None:
            os.close(fd)  # a dead writer: left out (recover() replays it)
            continue
        if not path.exists():
            continue  # closed since the listing (try_lock could not open it)
        if now - until > _STALE_FLUSHES * every + _STALE_MARGIN:
            stale.append(path.name.split(".")[0])
            continue
        marks.append(until)
    return LogWatermark(min(marks) if marks else None, len(marks), tuple(stale))
