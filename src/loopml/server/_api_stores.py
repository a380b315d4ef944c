"""The sweeps and datasets store surfaces over HTTP, for clients of a team server.

A client with ``LOOPML_TRACKING_URI`` set reaches ``store.sweeps`` and ``store.datasets``
through these routes (``tracking/_remote_stores.py`` is the other side), as the tracking
client reaches ``store.runs`` through ``/api/v1/backend/{method}``:

- ``POST /api/v1/sweeps-store/{method}``: one ``SweepStore`` call; the caller needs
  ``runs.read`` / ``runs.write`` on the sweep's project.
- ``POST /api/v1/datasets-store/{method}``: one ``DatasetStore`` call. Dataset versions belong
  to no project: reading needs read access on some project, creating write access on some
  project; recording a run's use needs write access on that run's project, and the lineage
  lists only runs the caller may read.
- ``GET /api/v1/datasets-store/files/{digest}``: a version's Parquet file (read-only,
  content-addressed), which the client caches by digest.
- ``POST /api/v1/labeling-store/{call}``: one ``store.labeling.<part>.<method>`` call
  (``call`` is ``part.method``, e.g. ``queue.assign``) on an allowed list, each with the
  permission it needs on the labeling project (its name is the project the roles name):
  managing (create, annotators, assign, guidelines, reviews) needs ``label.manage``; reading
  labels ``label.read``; an annotator's own queue and labels ``label.annotate``, and someone
  without ``label.manage`` acts only as the annotator of their own user name.

A new version's Parquet file arrives through the resumable uploads (``PUT
/api/v1/uploads/{id}``) and is named here by its upload id.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

import loopml.store as _records
from loopml import _wire_values
from loopml._errors import LoopmlError, NotFoundError, ValidationError
from loopml.server._api_backend import _Call, _Forbidden
from loopml.server._auth import allowed, allowed_anywhere, run_project
from loopml.store import (
    DatasetVersion,
    Store,
    SweepRecord,
    TrialWrite,
    UserRecord,
    record_to_wire,
)

__all__ = ["LABELING_RECORDS", "dataset_to_wire", "router", "trial_from_wire"]

router = APIRouter(include_in_schema=False)


class _Caller(_Call):
    """One call by one user: the backend's permission checks, and those of the store surfaces."""

    def need_somewhere(self, perm: str) -> None:
        if not allowed_anywhere(self.user, perm):
            raise _Forbidden(f"user {self.user.name!r} may not {perm} on any project")

    def sweep(self, sweep_id: Any, perm: str) -> SweepRecord:
        if not isinstance(sweep_id, str):
            raise ValidationError(f"a sweep id is a string, not {sweep_id!r}")
        record = self.store.sweeps.get(sweep_id)  # NotFoundError: 404
        self.need(perm, record.project)
        return record

    def readable_run(self, run_id: str) -> bool:
        try:
            return allowed(self.user, "runs.read", run_project(self.app, run_id))
        except NotFoundError:
            return False


def _text(a: dict[str, Any], key: str) -> str:
    value = a.get(key)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{key!r} must be a non-empty string, not {value!r}")
    return value


# -- wire forms --------------------------------------------------------------------------------
def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def trial_from_wire(d: dict[str, Any]) -> TrialWrite:
    """A ``TrialWrite`` from its JSON form (tuples and integer keys restored, fields checked)."""
    names = {f.name for f in dataclasses.fields(TrialWrite)}
    unknown = set(d) - names
    if unknown:
        raise ValidationError(f"unknown trial fields {sorted(unknown)}")
    points = [(int(s), float(t), str(k), float(v)) for s, t, k, v in d.get("points", [])]
    encoded = {str(k): (str(v[0]), _finite(v[1])) for k, v in d["encoded_params"].items()}
    intermediate = {int(k): float(v) for k, v in (d.get("intermediate") or {}).items()}
    tags = {str(k): str(v) for k, v in (d.get("tags") or {}).items()}
    return TrialWrite(
        **{
            **d,
            "points": points,
            "encoded_params": encoded,
            "intermediate": intermediate,
            "tags": tags,
        }
    )


def dataset_to_wire(v: DatasetVersion) -> dict[str, Any]:
    """A dataset version's record as JSON (without the server's file path)."""
    out = dataclasses.asdict(v)
    del out["path"]
    return out


# -- sweeps ------------------------------------------------------------------------------------
def _create_sweep(c: _Caller, a: dict[str, Any]) -> None:
    sweep_id, project = _text(a, "sweep_id"), _text(a, "project")
    c.need("runs.write", project)
    try:
        existing = c.store.sweeps.get(sweep_id)
    except NotFoundError:
        existing = None
    if existing is not None:  # a retry after a lost answer
        if existing.project != project:
            raise _Forbidden(f"sweep {sweep_id} exists in another project")
        return
    if not isinstance(a.get("config"), dict):
        raise ValidationError("a sweep's config is a JSON object")
    c.store.sweeps.create_sweep(
        sweep_id,
        project,
        _text(a, "name"),
        _text(a, "metric"),
        _text(a, "direction"),
        str(a.get("objective") or ""),
        a["config"],
    )


def _set_status(c: _Caller, a: dict[str, Any]) -> None:
    record = c.sweep(a.get("sweep_id"), "runs.write")
    status = a.get("status")
    if status not in ("running", "finished", "stopped"):
        raise ValidationError(f"a sweep's status is running, finished or stopped, not {status!r}")
    c.store.sweeps.set_status(record.id, status)


def _list_sweeps(c: _Caller, a: dict[str, Any]) -> list[dict[str, Any]]:
    project = a.get("project")
    if project is not None:
        c.need("runs.read", project)
    found = c.store.sweeps.list_sweeps(project, a.get("ids"), int(a.get("limit", 100)))
    return [dataclasses.asdict(r) for r in found if allowed(c.user, "runs.read", r.project)]


def _load_trials(c: _Caller, a: dict[str, Any]) -> list[dict[str, Any]]:
    record = c.sweep(a.get("sweep_id"), "runs.read")
    return [dataclasses.asdict(t) for t in c.store.sweeps.load_trials(record.id)]


def _cached_results(c: _Caller, a: dict[str, Any]) -> dict[str, list[Any]]:
    # Results of any sweep with the same objective, but only from runs the caller may read.
    found = c.store.sweeps.cached_results(_text(a, "objective_key"))
    return {k: [v, run] for k, (v, run) in found.items() if c.readable_run(run)}


def _write_trials(c: _Caller, a: dict[str, Any]) -> None:
    project = _text(a, "project")
    record = c.sweep(a.get("sweep_id"), "runs.write")
    if record.project != project:
        raise ValidationError(f"sweep {record.id} belongs to project {record.project!r}")
    trials = [trial_from_wire(t) for t in a["trials"]]
    for t in trials:
        # A trial's run id must be new or already one of this sweep's runs: never another run.
        try:
            owner = c.store.runs.get(t.run_id)
        except NotFoundError:
            continue
        if owner.sweep_id != record.id:
            raise _Forbidden(f"run {t.run_id} is not a trial of sweep {record.id}")
    attributes = a.get("attributes") or {}
    c.store.sweeps.write_trials(project, record.id, attributes, trials)


def _mark_in_flight(c: _Caller, a: dict[str, Any]) -> list[int]:
    record = c.sweep(a.get("sweep_id"), "runs.write")
    return c.store.sweeps.mark_in_flight(record.id, _text(a, "state"), str(a.get("error", "")))


def _trial_counts(c: _Caller, a: dict[str, Any]) -> dict[str, dict[str, int]]:
    ids = [c.sweep(i, "runs.read").id for i in a["sweep_ids"]]
    return c.store.sweeps.trial_counts(ids)


def _summaries(c: _Caller, a: dict[str, Any]) -> list[dict[str, Any]]:
    project = a.get("project")
    if project is not None:
        c.need("runs.read", project)
    return [
        dataclasses.asdict(s)
        for s in c.store.sweeps.summaries(project)
        if allowed(c.user, "runs.read", s.project)
    ]


def _trial_runs(c: _Caller, a: dict[str, Any]) -> list[dict[str, Any]]:
    record = c.sweep(a.get("sweep_id"), "runs.read")
    limit = a.get("limit", 10_000)
    return [record_to_wire(r) for r in c.store.sweeps.trial_runs(record.id, limit)]


_SWEEP_METHODS: dict[str, Callable[[_Caller, dict[str, Any]], Any]] = {
    "create_sweep": _create_sweep,
    "set_status": _set_status,
    "resolve_id": lambda c, a: c.sweep(a.get("sweep_id"), "runs.read").id,
    "get": lambda c, a: dataclasses.asdict(c.sweep(a.get("sweep_id"), "runs.read")),
    "list_sweeps": _list_sweeps,
    "trial_counts": _trial_counts,
    "load_trials": _load_trials,
    "cached_results": _cached_results,
    "write_trials": _write_trials,
    "mark_in_flight": _mark_in_flight,
    "summaries": _summaries,
    "trial_runs": _trial_runs,
}


# -- datasets ----------------------------------------------------------------------------------
def _add_version(c: _Caller, a: dict[str, Any]) -> list[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loopml.datasets import create_from_table
    from loopml.server._api_backend import _upload_path

    c.need_somewhere("runs.write")
    path = _upload_path(c.store, str(a.get("upload")))
    if not path.is_file():
        raise NotFoundError(f"upload {a.get('upload')} is missing; upload the file again")
    try:
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise ValidationError(f"the uploaded dataset is not a Parquet file ({exc})") from None
        roles, source = a.get("roles"), a.get("source") or {}
        if not isinstance(roles, dict) or not isinstance(source, dict):
            raise ValidationError("a dataset's roles and source are JSON objects")
        try:
            before = {v.digest for v in c.store.datasets.versions(_text(a, "name"))}
        except NotFoundError:
            before = set()
        version = create_from_table(
            a["name"], table, roles, source, note=a.get("note"), store=c.store
        )
    finally:
        path.unlink(missing_ok=True)
    return [dataset_to_wire(version), version.digest not in before]


def _dataset_get(c: _Caller, a: dict[str, Any]) -> dict[str, Any]:
    c.need_somewhere("runs.read")
    return dataset_to_wire(c.store.datasets.get(_text(a, "ref")))


def _dataset_latest(c: _Caller, a: dict[str, Any]) -> list[dict[str, Any]]:
    c.need_somewhere("runs.read")
    return [dataset_to_wire(v) for v in c.store.datasets.latest()]


def _dataset_versions(c: _Caller, a: dict[str, Any]) -> list[dict[str, Any]]:
    c.need_somewhere("runs.read")
    return [dataset_to_wire(v) for v in c.store.datasets.versions(_text(a, "name"))]


def _record_use(c: _Caller, a: dict[str, Any]) -> dict[str, Any]:
    run_id = c.store.runs.resolve_id(_text(a, "run_id"))
    c.need("runs.write", run_project(c.app, run_id))
    return dataset_to_wire(c.store.datasets.record_use(run_id, _text(a, "ref")))


def _users(c: _Caller, a: dict[str, Any]) -> list[dict[str, Any]]:
    c.need_somewhere("runs.read")
    return [
        dataclasses.asdict(u)
        for u in c.store.datasets.users(_text(a, "digest"))
        if allowed(c.user, "runs.read", u.project)
    ]


def _inputs_of(c: _Caller, a: dict[str, Any]) -> list[dict[str, Any]]:
    run_id = c.store.runs.resolve_id(_text(a, "run_id"))
    c.need("runs.read", run_project(c.app, run_id))
    return [dataset_to_wire(v) for v in c.store.datasets.inputs_of(run_id)]


_DATASET_METHODS: dict[str, Callable[[_Caller, dict[str, Any]], Any]] = {
    "add_version": _add_version,
    "get": _dataset_get,
    "latest": _dataset_latest,
    "versions": _dataset_versions,
    "record_use": _record_use,
    "users": _users,
    "inputs_of": _inputs_of,
}


# -- labeling ----------------------------------------------------------------------------------
LABELING_RECORDS: dict[str, type] = {
    name: getattr(_records, name)
    for name in (
        "LabelProjectRecord",
        "LabelProjectSummary",
        "AnnotatorRecord",
        "AnnotatorStats",
        "QueueEntry",
        "QueueCounts",
        "AnnotationRecord",
        "FlagRecord",
        "GuidelineRecord",
        "ReviewRecord",
        "NewReview",
    )
}

_READ, _ANNOTATE, _MANAGE, _SELF = "read", "annotate", "manage", "self"
# part.method -> who may call it (see the module docstring)
_LABEL_CALLS: dict[str, str] = {
    "projects.create": _MANAGE,
    "projects.get": _ANNOTATE,
    "projects.summaries": _READ,
    "projects.item_indices": _ANNOTATE,
    "projects.item_ids": _ANNOTATE,
    "projects.count_items": _ANNOTATE,
    "annotators.add": _MANAGE,
    "annotators.stats": _READ,
    "annotators.all": _ANNOTATE,
    "annotators.get": _ANNOTATE,
    "queue.assign": _MANAGE,
    "queue.next": _SELF,
    "queue.counts": _SELF,
    "queue.skip": _SELF,
    "queue.undo": _SELF,
    "queue.assigned_items": _READ,
    "annotations.add": _SELF,
    "annotations.of_item": _READ,
    "annotations.arrays": _READ,
    "annotations.flagged": _READ,
    "guidelines.publish": _MANAGE,
    "guidelines.versions": _ANNOTATE,
    "guidelines.latest_version": _ANNOTATE,
    "reviews.entries": _READ,
    "reviews.replace_open": _MANAGE,
    "reviews.resolve": _MANAGE,
}


def _may_label(c: _Caller, who: str, project: str) -> None:
    if who == _MANAGE:
        c.need("label.manage", project)
    elif who == _READ:
        c.need("label.read", project)
    elif not (allowed(c.user, "label.read", project) or allowed(c.user, "label.annotate", project)):
        raise _Forbidden(f"user {c.user.name!r} may not label.read on project {project!r}")


def _labeling_call(c: _Caller, call: str, a: dict[str, Any]) -> Any:
    import inspect

    who = _LABEL_CALLS.get(call)
    if who is None:
        from loopml._errors import did_you_mean

        raise NotFoundError(f"no labeling call {call!r}{did_you_mean(call, _LABEL_CALLS)}")
    part, method = call.split(".")
    fn = getattr(getattr(c.store.labeling, part), method)
    args = _wire_values.decode(a.get("args") or [], LABELING_RECORDS)
    kwargs = _wire_values.decode(a.get("kwargs") or {}, LABELING_RECORDS)
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValidationError("a labeling call's body is {'args': [...], 'kwargs': {...}}")
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise ValidationError(f"bad arguments for {call}: {exc}") from None
    named = bound.arguments
    if call == "projects.summaries":
        return [s for s in fn(*args, **kwargs) if allowed(c.user, "label.read", s.project.name)]
    if call in ("projects.create", "projects.get"):
        project = _text(named, "name")
    else:
        # Calls name the project by id; the client says its name, which must match that id.
        project = _text(a, "project")
        record = c.store.labeling.projects.get(project)  # NotFoundError: 404
        if named.get("project_id") != record.id:
            raise ValidationError(f"project id {named.get('project_id')!r} is not {project!r}'s")
    if who == _SELF:
        _may_label(c, _ANNOTATE, project)
        annotator = named.get("annotator_id")
        if not allowed(c.user, "label.manage", project) and not (
            annotator is None and call == "queue.counts" and allowed(c.user, "label.read", project)
        ):
            c.need("label.annotate", project)
            own = c.store.labeling.annotators.get(record.id, c.user.name).id
            if annotator != own:
                raise _Forbidden(
                    f"user {c.user.name!r} labels only as annotator {c.user.name!r} in {project!r}"
                )
    else:
        _may_label(c, who, project)
    return fn(*args, **kwargs)


# -- plumbing ----------------------------------------------------------------------------------
def _reply(status: int, payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload), status, media_type="application/json")


def _dispatch(
    request: Request,
    methods: dict[str, Callable[[_Caller, dict[str, Any]], Any]],
    method: str,
    raw: bytes,
) -> Response:
    fn = methods.get(method)
    if fn is None:
        from loopml._errors import did_you_mean

        exc = NotFoundError(f"no method {method!r}{did_you_mean(method, methods)}")
        return _reply(404, {"error": str(exc), "type": "NotFoundError"})
    request.state.audit_detail = method
    try:
        args = json.loads(raw) if raw else {}
        if not isinstance(args, dict):
            raise ValueError
    except ValueError:
        exc2 = ValidationError("the body must be a JSON object of the call's arguments")
        return _reply(400, {"error": str(exc2), "type": "ValidationError"})
    try:
        return _reply(200, {"result": fn(_Caller(request), args)})
    except _Forbidden as exc:
        return _reply(403, {"error": str(exc), "type": "AuthError"})
    except NotFoundError as exc:
        return _reply(404, {"error": str(exc), "type": type(exc).__name__})
    except LoopmlError as exc:
        return _reply(400, {"error": str(exc), "type": type(exc).__name__})
    except (KeyError, TypeError, ValueError) as exc:
        bad = ValidationError(f"bad arguments for {method}: {exc!r}")
        return _reply(400, {"error": str(bad), "type": "ValidationError"})


@router.post("/api/v1/sweeps-store/{method}")
async def sweeps_call(request: Request, method: str) -> Response:
    """One ``SweepStore`` call from a client of the team server."""
    from starlette.concurrency import run_in_threadpool

    raw = await request.body()
    return await run_in_threadpool(_dispatch, request, _SWEEP_METHODS, method, raw)


@router.post("/api/v1/datasets-store/{method}")
async def datasets_call(request: Request, method: str) -> Response:
    """One ``DatasetStore`` call from a client of the team server."""
    from starlette.concurrency import run_in_threadpool

    raw = await request.body()
    return await run_in_threadpool(_dispatch, request, _DATASET_METHODS, method, raw)


@router.post("/api/v1/labeling-store/{call}")
async def labeling_call(request: Request, call: str) -> Response:
    """One ``store.labeling`` call (``part.method``) from a client of the team server."""
    from starlette.concurrency import run_in_threadpool

    raw = await request.body()

    def run(c: _Caller, a: dict[str, Any]) -> Any:
        return _wire_values.encode(_labeling_call(c, call, a))

    return await run_in_threadpool(_dispatch, request, {call: run}, call, raw)


@router.get("/api/v1/datasets-store/files/{digest}")
def dataset_file(request: Request, digest: str) -> Response:
    """The Parquet file of a dataset version (readers with read access on some project)."""
    store: Store = request.app.state.store
    user: UserRecord = request.state.user
    if not allowed_anywhere(user, "runs.read"):
        return _reply(403, {"error": f"user {user.name!r} may not read datasets"})
    try:
        path = store.datasets.file(digest)
    except ValidationError as exc:
        return _reply(400, {"error": str(exc), "type": "ValidationError"})
    if not path.is_file():
        return _reply(404, {"error": f"no dataset version {digest}", "type": "NotFoundError"})
    return FileResponse(path, media_type="application/vnd.apache.parquet")
