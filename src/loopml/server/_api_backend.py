"""The tracking client's calls over HTTP: ``POST /api/v1/backend/{method}`` and uploads.

``HttpBackend`` (``tracking/_remote.py``) sends each ``RunBackend`` call here as JSON (gzip
when large); the handler checks the caller's permission on every run it touches, calls the
store's ``RunBackend`` (``store.runs``) and answers ``{"result": ...}``. Errors come back with
their class name so the client raises the same class. ``ingest`` is idempotent on its journal
offsets, so a client that lost an answer retries without storing anything twice.

``ingest_records`` is ``ingest`` with the journal's own bytes (``application/x-loopml-records``:
a JSON line of arguments, then the records): parsed here into columns by the journal's parser
(``loopml.tracking.parse_records_packed``), which costs less than the client's parse, packing
and encoding did. The byte count must match the offsets.

Artifacts arrive in chunks (``PUT /api/v1/uploads/{id}?offset=N``, resumable: the answer is the
size held so far) and become a run's artifacts with the ``copy_artifacts`` call.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from loopml._errors import LoopmlError, NotFoundError, OffsetMismatch, ValidationError
from loopml.server._auth import allowed, allowed_anywhere, remember_run_project, run_project
from loopml.store import (
    Batch,
    Store,
    UserRecord,
    artifact_to_wire,
    batch_from_wire,
    check_artifact_name,
    record_to_wire,
)

__all__ = ["router"]

RECORDS_TYPE = "application/x-loopml-records"  # as ``tracking._remote.RECORDS_TYPE``

router = APIRouter(include_in_schema=False)

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class _Forbidden(LoopmlError):
    pass


def _answer(result: Any, status: int = 200) -> Response:
    return Response(json.dumps({"result": result}), status, media_type="application/json")


def _error(exc: Exception, status: int, **extra: Any) -> Response:
    body = {"error": str(exc), "type": type(exc).__name__, **extra}
    return Response(json.dumps(body), status, media_type="application/json")


class _Call:
    """One backend call by one user: the permission checks every method shares."""

    def __init__(self, request: Request) -> None:
        self.app = request.app
        self.store: Store = request.app.state.store
        self.user: UserRecord = request.state.user
        self.request = request

    def need(self, perm: str, project: str | None) -> None:
        if not allowed(self.user, perm, project):
            what = "every project" if project is None else f"project {project!r}"
            raise _Forbidden(f"user {self.user.name!r} may not {perm} on {what}")

    def run(self, run_id: str, perm: str) -> str:
        project = run_project(self.app, run_id)
        self.need(perm, project)
        return project

    def projects(self, project: str | list[str] | None, perm: str = "runs.read") -> None:
        for p in [project] if project is None or isinstance(project, str) else project:
            self.need(perm, p)

    def readable(self, run_id: str) -> bool:
        try:
            return allowed(self.user, "runs.read", run_project(self.app, run_id))
        except NotFoundError:
            return False


def _create(c: _Call, a: dict[str, Any]) -> None:
    c.need("runs.write", a["project"])
    params = {k: tuple(v) for k, v in a.get("params", {}).items()}
    c.store.runs.create(
        a["run_id"],
        a["project"],
        a["name"],
        a.get("attributes", {}),
        params,
        a.get("tags", {}),
        journal_id=a.get("journal_id"),
    )


def _ingest(c: _Call, a: dict[str, Any]) -> bool:
    return _ingest_batch(c, a, batch_from_wire(a["batch"]))


def _ingest_records(c: _Call, a: dict[str, Any]) -> bool:
    from loopml.tracking import parse_records_packed

    records = a["records"]
    if not isinstance(records, bytes):
        raise ValidationError(f"ingest_records takes the records as a {RECORDS_TYPE} body")
    if int(a["end"]) - int(a["start"]) != len(records):
        raise ValidationError(
            f"the offsets {a['start']}:{a['end']} do not span the {len(records)} bytes sent"
        )
    return _ingest_batch(c, a, parse_records_packed(records))


def _ingest_batch(c: _Call, a: dict[str, Any], batch: Batch) -> bool:
    try:
        c.run(a["run_id"], "runs.write")
    except NotFoundError:
        if batch.create is None:
            raise
        c.need("runs.write", str(batch.create.get("project")))  # the segment creates the run
    # The audit row of this (answered 200) call commits with the batch, not in a transaction of
    # its own after the answer; a call that fails rolls it back and is audited as any other.
    scope = c.request.scope
    audit = c.store.users.audit_writer(
        c.user.name, scope["method"], scope["path"], 200, c.request.state.audit_detail
    )
    stored = c.store.runs.ingest(
        a["journal_id"],
        a["run_id"],
        batch,
        int(a["start"]),
        int(a["end"]),
        final=a.get("final"),
        close=bool(a.get("close")),
        also=audit,
    )
    c.request.state.audited = True
    if stored and batch.create is not None:  # its next segments need no lookup
        remember_run_project(c.app, a["run_id"], str(batch.create["project"]))
    return stored


def _journal_offset(c: _Call, a: dict[str, Any]) -> int | None:
    if not allowed_anywhere(c.user, "runs.write"):
        raise _Forbidden(f"user {c.user.name!r} may not write runs")
    return c.store.runs.journal_offset(a["journal_id"])


def _mark_stale(c: _Call, a: dict[str, Any]) -> list[str]:
    # Marking other people's silent runs is for users who may write every project.
    if not allowed(c.user, "runs.write", None):
        return []
    return c.store.runs.mark_stale_crashed(float(a["older_than"]), a.get("exclude", []))


def _copy_artifacts(c: _Call, a: dict[str, Any]) -> list[dict[str, Any]]:
    c.run(a["run_id"], "runs.write")
    name = check_artifact_name(a["name"])
    uploads = _uploads_dir(c.store)
    with tempfile.TemporaryDirectory(dir=uploads) as tmp:
        root = Path(tmp) / "payload"
        for f in a["files"]:
            src = _upload_path(c.store, f["upload"])
            if not src.is_file():
                raise NotFoundError(f"upload {f['upload']} is missing; upload the file again")
            dest = root / check_artifact_name(f["path"]) if a.get("is_dir") else root
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
        if a.get("is_dir"):
            root.mkdir(exist_ok=True)
        return c.store.runs.copy_artifacts(a["run_id"], root, name)


def _run_then(
    perm: str, fn: Callable[[Store, dict[str, Any]], Any]
) -> Callable[[_Call, dict[str, Any]], Any]:
    """A call on one run (``run_id``) that needs ``perm`` on that run's project."""

    def call(c: _Call, a: dict[str, Any]) -> Any:
        c.run(a["run_id"], perm)
        return fn(c.store, a)

    return call


def _heartbeat(c: _Call, a: dict[str, Any]) -> None:
    for run_id in a["run_ids"]:
        c.run(run_id, "runs.write")
    c.store.runs.heartbeat(a["run_ids"])


def _delete(c: _Call, a: dict[str, Any]) -> int:
    for run_id in a["ids"]:
        if c.store.runs.status(run_id) is not None:
            c.run(run_id, "runs.delete")
    return c.store.runs.delete(a["ids"])


def _status(c: _Call, a: dict[str, Any]) -> str | None:
    status = c.store.runs.status(a["run_id"])
    if status is not None:
        c.run(a["run_id"], "runs.read")
    return status


def _search(c: _Call, a: dict[str, Any]) -> list[dict[str, Any]]:
    c.projects(a.get("project"))
    found = c.store.runs.search(
        a.get("project"), a.get("where"), a.get("order_by"), a.get("limit"), a.get("offset", 0)
    )
    return [record_to_wire(r) for r in found]


def _count(c: _Call, a: dict[str, Any]) -> int:
    c.projects(a.get("project"))
    return c.store.runs.count(a.get("project"), a.get("where"))


def _check_query(c: _Call, a: dict[str, Any]) -> None:
    c.projects(a.get("project"))
    c.store.runs.check_query(a.get("project"), a.get("where"))


def _get_many(c: _Call, a: dict[str, Any]) -> list[dict[str, Any]]:
    ids = [i for i in a["ids"] if c.readable(i)]
    return [record_to_wire(r) for r in c.store.runs.get_many(ids)]


_METHODS: dict[str, Callable[[_Call, dict[str, Any]], Any]] = {
    "create": _create,
    "open_journal": _run_then(
        "runs.write", lambda s, a: s.runs.open_journal(a["journal_id"], a["run_id"])
    ),
    "ingest": _ingest,
    "ingest_records": _ingest_records,
    "journal_offset": _journal_offset,
    "set_status": _run_then(
        "runs.write",
        lambda s, a: s.runs.set_status(
            a["run_id"], a["status"], error=a.get("error"), only_if=a.get("only_if")
        ),
    ),
    "heartbeat": _heartbeat,
    "mark_stale_crashed": _mark_stale,
    "copy_artifacts": _copy_artifacts,
    "delete": _delete,
    "status": _status,
    "resolve_id": _run_then("runs.read", lambda s, a: s.runs.resolve_id(a["run_id"])),
    "get": _run_then("runs.read", lambda s, a: record_to_wire(s.runs.get(a["run_id"]))),
    "get_many": _get_many,
    "search": _search,
    "count": _count,
    "check_query": _check_query,
    "metric_keys": _run_then("runs.read", lambda s, a: s.runs.metric_keys(a["run_id"])),
    "history": _run_then("runs.read", lambda s, a: list(s.runs.history(a["run_id"], a["key"]))),
    "list_artifacts": _run_then(
        "runs.read",
        lambda s, a: [artifact_to_wire(x) for x in s.runs.list_artifacts(a["run_id"])],
    ),
}


async def _read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    records = None
    if request.headers.get("content-type") == RECORDS_TYPE:
        raw, _, records = raw.partition(b"\n")  # JSON never holds a raw newline
    try:
        args = json.loads(raw) if raw else {}
    except ValueError:
        raise ValidationError("the body must be a JSON object of the call's arguments") from None
    if not isinstance(args, dict):
        raise ValidationError("the body must be a JSON object of the call's arguments")
    if records is not None:
        args["records"] = records
    return args


def _dispatch(request: Request, method: str, args: dict[str, Any]) -> Response:
    fn = _METHODS.get(method)
    if fn is None:
        from loopml._errors import did_you_mean

        raise NotFoundError(f"no backend method {method!r}{did_you_mean(method, _METHODS)}")
    request.state.audit_detail = method
    call = _Call(request)
    try:
        return _answer(fn(call, args))
    except OffsetMismatch as exc:
        return _error(exc, 409, stored=exc.stored)
    except _Forbidden as exc:
        return _error(exc, 403)
    except NotFoundError as exc:
        return _error(exc, 404)
    except LoopmlError as exc:
        return _error(exc, 400)
    except (KeyError, TypeError) as exc:
        return _error(ValidationError(f"bad arguments for {method}: {exc!r}"), 400)


def _uploads_dir(store: Store) -> Path:
    path = store.data_dir / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _upload_path(store: Store, upload_id: str) -> Path:
    if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
        raise ValidationError(f"an upload id is 32 hex digits, not {upload_id!r}")
    return _uploads_dir(store) / f"{upload_id}.part"


def _append(store: Store, upload_id: str, offset: int, chunk: bytes) -> int:
    path = _upload_path(store, upload_id)
    held = path.stat().st_size if path.exists() else 0
    if offset == held:
        with open(path, "ab") as f:
            f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        held += len(chunk)
    # Any other offset: say how much is held so the client resumes from there.
    return held


@router.post("/api/v1/backend/{method}")
async def backend_call(request: Request, method: str) -> Response:
    """One ``RunBackend`` call from a tracking client (``HttpBackend``)."""
    from starlette.concurrency import run_in_threadpool

    try:
        args = await _read_json(request)
    except ValidationError as exc:
        return _error(exc, 400)
    return await run_in_threadpool(_dispatch, request, method, args)


@router.put("/api/v1/uploads/{upload_id}")
async def upload_chunk(request: Request, upload_id: str, offset: int = 0) -> Response:
    """Append a chunk at ``offset`` to an upload; answers the size held (resumable)."""
    from starlette.concurrency import run_in_threadpool

    chunk = await request.body()
    store: Store = request.app.state.store
    try:
        size = await run_in_threadpool(_append, store, upload_id, offset, chunk)
    except ValidationError as exc:
        return _error(exc, 400)
    return _answer({"size": size})
