"""The prediction log writer: the request path appends one journal record per answered request;
a background thread turns new records into Parquet parts through ``store.predictions``.

Journals of dead servers (their lock can be taken) are replayed at start and every few seconds,
so every answered prediction reaches the log even after a SIGKILL.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

__all__ = ["PredictionLog", "recover"]

_log = logging.getLogger("loopml.serving")
_ROTATE_BYTES = 256 << 20
_ARROW_TYPES = {
    "float64": "float64",
    "int64": "int64",
    "bool": "bool_",
    "string": "string",
    "category": "string",
}


def _dumps(record: dict[str, Any]) -> bytes:
    # One line: neither encoder writes a raw newline or NUL inside a record.
    return dumps(record) + b"\n"


class _Rows:
    """Column lists for one Parquet part, filled record by record."""

    BASE = (
        "id",
        "request_id",
        "time",
        "model",
        "model_version",
        "status",
        "latency_ms",
        "payload_bytes",
    )
    OUT = (
        "prediction",
        "confidence",
        "probabilities",
        "shadow_model_version",
        "shadow_prediction",
        "shadow_confidence",
    )

    def __init__(self, model: str, features: dict[str, str], classifier: bool) -> None:
        self.model = model
        self.features = dict(features)
        self.classifier = classifier
        self.cols: dict[str, list[Any]] = {c: [] for c in (*self.BASE, *self.OUT)}
        self.inputs: dict[str, list[Any]] = {}
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
        ids = rec["ids"]
        n = len(ids)
        c = self.cols
        c["id"].extend(ids)
        c["request_id"].extend([rec["r"]] * n)
        c["time"].extend([rec["t"]] * n)
        c["model"].extend([self.model] * n)
        c["model_version"].extend([rec.get("v")] * n)
        c["status"].extend([rec["s"]] * n)
        c["latency_ms"].extend([rec["l"]] * n)
        c["payload_bytes"].extend([rec["b"]] * n)
        inputs = rec.get("in") or {}
        for name in set(self.inputs) | set(inputs):
            col = self.inputs.setdefault(name, [None] * self.n)
            values = inputs.get(name)
            col.extend(values if values is not None else [None] * n)
        self._out("prediction", rec.get("p"), n, text=True)
        self._out("confidence", rec.get("c"), n)
        self._out("probabilities", rec.get("pr"), n)
        c["shadow_model_version"].extend([rec.get("sv")] * n)
        self._out("shadow_prediction", rec.get("sp"), n, text=True)
        self._out("shadow_confidence", rec.get("sc"), n)
        self.n += n

    def _out(self, name: str, values: list[Any] | None, n: int, text: bool = False) -> None:
        if values is None:
            self.cols[name].extend([None] * n)
        elif text and self.classifier:
            self.cols[name].extend(None if v is None else str(v) for v in values)
        elif text:
            self.cols[name].extend(None if v is None else float(v) for v in values)
        else:
            self.cols[name].extend(values)

    def table(self) -> pa.Table:
        import pyarrow as pa

        ts = pa.timestamp("us", tz="UTC")
        pred = pa.string() if self.classifier else pa.float64()
        c = self.cols
        arrays: dict[str, pa.Array] = {
            "id": pa.array(c["id"], pa.string()),
            "request_id": pa.array(c["request_id"], pa.string()),
            "time": pa.array(c["time"], pa.int64()).cast(ts),
            "model": pa.array(c["model"], pa.string()),
            "model_version": pa.array(c["model_version"], pa.int32()),
            "status": pa.array(c["status"], pa.int16()),
            "latency_ms": pa.array(c["latency_ms"], pa.float64()),
            "payload_bytes": pa.array(c["payload_bytes"], pa.int32()),
        }
        order = {name: i for i, name in enumerate(self.features)}
        for name in sorted(self.inputs, key=lambda k: (order.get(k, len(order)), k)):
            kind = self.features.get(name)
            values = self.inputs[name]
            values += [None] * (self.n - len(values))
            typ = getattr(pa, _ARROW_TYPES[kind])() if kind else None
            if kind == "float64":
                values = [
                    float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                    for v in values
                ]
            arrays[f"in.{name}"] = pa.array(values, typ) if typ else pa.array(values)
        arrays["prediction"] = pa.array(c["prediction"], pred)
        arrays["confidence"] = pa.array(c["confidence"], pa.float64())
        arrays["probabilities"] = pa.array(c["probabilities"], pa.list_(pa.float64()))
        arrays["shadow_model_version"] = pa.array(c["shadow_model_version"], pa.int32())
        arrays["shadow_prediction"] = pa.array(c["shadow_prediction"], pred)
        arrays["shadow_confidence"] = pa.array(c["shadow_confidence"], pa.float64())
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
    rows = _Rows(model, features, classifier)
    for line in data.split(b"\n"):
        if line:
            rows.add(loads(line))
    if rows.n:
        store.predictions.write(model, rows.table(), part, classes)
    if rows.feedback["id"]:
        store.predictions.write_feedback(model, rows.feedback_table(), part)
    return rows.n


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
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="loopml-prediction-log", daemon=True)

    def _new_journal(self) -> Journal:
        return Journal(self.directory / f"{uuid.uuid4().hex}.journal")

    def start(self) -> PredictionLog:
        """Replay dead servers' journals, then write out new records in the background."""
        recover(self.store, self.model, self.features, self.classes)
        self._thread.start()
        return self

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
            if end > _ROTATE_BYTES:
                with self._lock:
                    if self.journal.position == self._flushed:
                        old, self.journal = self.journal, self._new_journal()
                        self._flushed = 0
                        old.close(delete=True)
            return n

    def _run(self) -> None:
        last_recover = time.monotonic()
        while not self._stop.wait(self.flush_interval):
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
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        try:
            self.flush()
        except Exception:
            _log.exception("writing the prediction log failed; the journal is kept for replay")
            self.journal.close(delete=False)
            return
        self.journal.close(delete=True)


def recover(
    store: Store,
    model: str,
    features: dict[str, str] | None = None,
    classes: Sequence[Any] | None = None,
) -> int:
    """Write out the journals of dead servers of ``model``; returns the rows recovered."""
    import os

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
