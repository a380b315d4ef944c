"""The wire form of what ``RunBackend`` moves: records and batches as JSON-ready values.

Used by the team server and its HTTP client alike, so both sides agree by construction. Floats
travel as JSON numbers written by Python's ``repr`` (exact round trip, ``-0.0`` kept) and the
non-standard ``NaN``/``Infinity`` tokens, which Python's ``json`` reads and writes by default.
"""

from __future__ import annotations

from typing import Any

from loopml.store._records import ArtifactRecord, Batch, MetricSummary, RunRecord

__all__ = [
    "artifact_from_wire",
    "artifact_to_wire",
    "batch_from_wire",
    "batch_to_wire",
    "record_from_wire",
    "record_to_wire",
]

_RECORD_FIELDS = (
    "id",
    "project",
    "name",
    "status",
    "created_at",
    "ended_at",
    "heartbeat_at",
    "git_commit",
    "git_dirty",
    "command",
    "host",
    "pid",
    "environment",
    "error",
    "sweep_id",
    "params",
    "tags",
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
    """A journal segment's batch as JSON-ready data."""
    out: dict[str, Any] = {"points": [list(p) for p in batch.points]}
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


def batch_from_wire(data: dict[str, Any]) -> Batch:
    """The batch ``batch_to_wire`` wrote (types checked: a bad point is a ValidationError)."""
    from loopml._errors import ValidationError

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
    )


def artifact_to_wire(a: ArtifactRecord) -> list[Any]:
    """An artifact record as a JSON list."""
    return [a.name, a.size, a.sha256, a.created_at]


def artifact_from_wire(data: list[Any]) -> ArtifactRecord:
    """The record ``artifact_to_wire`` wrote."""
    return ArtifactRecord(*data)
