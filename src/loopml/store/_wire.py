"""The wire form of what ``RunBackend`` moves: records and batches as JSON-ready values.

Used by the team server and its HTTP client alike, so both sides agree by construction. Metric
points travel as packed binary columns (``batch_to_wire``); other floats as JSON numbers written
by Python's ``repr`` (exact round trip, ``-0.0`` kept) and the non-standard ``NaN``/``Infinity``
tokens, which Python's ``json`` reads and writes by default.
"""

from __future__ import annotations

import base64
import dataclasses
import sys
from array import array
from typing import Any

from loopml.store._records import (
    ArtifactRecord,
    Batch,
    MetricSummary,
    PackedPoints,
    Point,
    RunRecord,
)

__all__ = [
    "artifact_from_wire",
    "artifact_to_wire",
    "batch_from_wire",
    "batch_to_wire",
    "record_from_wire",
    "record_to_wire",
]

# Every field of a run snapshot travels as is, but the two rebuilt on arrival: the metric
# summaries (sent as lists) and the store that ``history()`` reads through.
_RECORD_FIELDS = tuple(
    f.name for f in dataclasses.fields(RunRecord) if f.name not in ("metrics", "_store")
)


def record_to_wire(r: RunRecord) -> dict[str, Any]:
    """A run snapshot as JSON-ready data."""
    out = {f: getattr(r, f) for f in _RECORD_FIELDS}
    out["metrics"] = {k: [s.last, s.last_step, s.min, s.max, s.count] for k, s in r.metrics.items()}
    return out


def record_from_wire(data: dict[str, Any], store: Any = None) -> RunRecord:
    """The snapshot ``record_to_wire`` wrote; ``store`` is what ``history()`` reads through."""
    metrics = {k: MetricSummary(*v) for k, v in data["metrics"].items()}
    return RunRecord(**{f: data[f] for f in _RECORD_FIELDS}, metrics=metrics, _store=store)


def batch_to_wire(batch: Batch) -> dict[str, Any]:
    """A journal segment's batch as JSON-ready data, its points as packed columns.

    ``columns``: ``keys`` (the metric names) and base64 of little-endian arrays: ``key``
    (uint32 index into ``keys``), ``step`` (int64), ``ts`` and ``value`` (float64, so every
    float, NaN and -0.0 included, round-trips exactly). Packed, a point costs either side a
    small fraction of what a JSON list costs to write and parse.
    """
    out: dict[str, Any] = {}
    points = batch.all_points()
    if points:
        out["columns"] = _points_to_columns(points)
    if batch.params:
        out["params"] = batch.params
    if batch.tags:
        out["tags"] = batch.tags
    if batch.artifacts:
        out["artifacts"] = batch.artifacts
    if batch.create is not None:
        create = dict(batch.create)
        create["params"] = {k: list(v) for k, v in create.get("params", {}).items()}
        out["create"] = create
    return out


def _points_to_columns(points: list[Point]) -> dict[str, Any]:
    # The standard library's arrays: a client need not import numpy to upload.
    steps, times, names, values = zip(*points, strict=True)
    index: dict[str, int] = {}
    key = [index.setdefault(n, len(index)) for n in names]
    return {
        "keys": list(index),
        "key": _b64(array(_U32, key)),
        "step": _b64(array("q", steps)),
        "ts": _b64(array("d", times)),
        "value": _b64(array("d", values)),
    }


_U32 = next(t for t in "IL" if array(t).itemsize == 4)


def _b64(a: array[Any]) -> str:
    if sys.byteorder == "big":
        a.byteswap()  # the wire is little-endian
    return base64.b64encode(a.tobytes()).decode("ascii")


def _points_from_columns(data: Any) -> PackedPoints:
    """The points ``_points_to_columns`` packed, every part checked."""
    import numpy as np

    from loopml._errors import ValidationError

    def column(name: str, dtype: str) -> Any:
        raw = data.get(name)
        if not isinstance(raw, str):
            raise ValidationError(f"the batch's columns need {name!r} as a base64 string")
        try:
            buf = base64.b64decode(raw, validate=True)
        except ValueError:
            raise ValidationError(f"the batch's column {name!r} is not valid base64") from None
        if len(buf) % np.dtype(dtype).itemsize:
            raise ValidationError(f"the batch's column {name!r} has a partial element")
        return np.frombuffer(buf, dtype=dtype)

    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValidationError("the batch's columns need 'keys' as a list of metric names")
    key, step = column("key", "<u4"), column("step", "<i8")
    ts, value = column("ts", "<f8"), column("value", "<f8")
    if not len(key) == len(step) == len(ts) == len(value):
        raise ValidationError(
            f"the batch's columns differ in length (key {len(key)}, step {len(step)}, "
            f"ts {len(ts)}, value {len(value)})"
        )
    if len(key) and int(key.max()) >= len(keys):
        raise ValidationError(f"a point's key index is past the {len(keys)} key(s) sent")
    return PackedPoints(keys, key, step, ts, value)


def batch_from_wire(data: dict[str, Any]) -> Batch:
    """The batch ``batch_to_wire`` wrote (types checked: a bad point is a ValidationError).

    Points come as ``columns``, or as ``points`` ([step, time, key, value] lists, what clients
    before the packed form sent).
    """
    from loopml._errors import ValidationError

    packed = _points_from_columns(data["columns"]) if "columns" in data else None
    points = []
    try:
        for step, t, key, value in data.get("points", []):
            if not isinstance(key, str) or isinstance(step, bool):
                raise TypeError
            points.append((int(step), float(t), key, float(value)))
    except (TypeError, ValueError):
        raise ValidationError(
            "a point must be [step (int), time (float), key (str), value (float)]"
        ) from None
    create = data.get("create")
    if create is not None:
        create = dict(create)
        create["params"] = {k: tuple(v) for k, v in create.get("params", {}).items()}
    return Batch(
        points=points,
        params=dict(data.get("params", {})),
        tags=dict(data.get("tags", {})),
        artifacts=list(data.get("artifacts", [])),
        create=create,
        packed=packed,
    )


def artifact_to_wire(a: ArtifactRecord) -> list[Any]:
    """An artifact record as a JSON list."""
    return [a.name, a.size, a.sha256, a.created_at]


def artifact_from_wire(data: list[Any]) -> ArtifactRecord:
    """The record ``artifact_to_wire`` wrote."""
    return ArtifactRecord(*data)
