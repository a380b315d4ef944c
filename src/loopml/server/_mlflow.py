"""The MLflow tracking REST subset, so the stock ``mlflow`` client logs to a loopml server.

``mlflow.set_tracking_uri("http://host:port")`` with ``MLFLOW_TRACKING_TOKEN`` set sends
``Authorization: Bearer <token>``, which the team server's gate checks like any API token.
Experiments are loopml projects (experiment ``"0"``, MLflow's default, is project
``Default``); MLflow runs are loopml runs, written through the same ``RunBackend`` ingest as a
journal (a per-run server-side journal whose offset advances one step per call), so they show
in the dashboard like any other run. Artifacts go through ``/api/2.0/mlflow-artifacts/``
(what ``mlflow server --serve-artifacts`` offers) into the run's artifact folder.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from loopml._errors import LoopmlError, NotFoundError, OffsetMismatch, ValidationError
from loopml._values import encode_param
from loopml.server._auth import allowed, allowed_anywhere, run_project
from loopml.store import Batch, RunRecord, Store, check_artifact_name

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
DEFAULT_EXPERIMENT = "Default"
_TO_MLFLOW = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
    "crashed": "FAILED",
    "pruned": "KILLED",
}
_FROM_MLFLOW = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "killed",
}


class MlflowError(LoopmlError):
    """An MLflow-style error: an ``error_code`` and an HTTP status."""

    def __init__(self, message: str, code: str = "INVALID_PARAMETER_VALUE", status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status, media_type="application/json")


def _fail(exc: Exception) -> Response:
    if isinstance(exc, MlflowError):
        code, status = exc.code, exc.status
    elif isinstance(exc, NotFoundError):
        code, status = "RESOURCE_DOES_NOT_EXIST", 404
    else:
        code, status = "INVALID_PARAMETER_VALUE", 400
    return _json({"error_code": code, "message": str(exc)}, status)


class _Ctx:
    """One MLflow call: the store, the user, and their permission checks."""

    def __init__(self, request: Request, args: dict[str, Any]) -> None:
        self.request = request
        self.app = request.app
        self.store: Store = request.app.state.store
        self.user = request.state.user
        self.args = args

    def arg(self, name: str, *alts: str, required: bool = True) -> Any:
        for key in (name, *alts):
            value = self.args.get(key)
            if value not in (None, ""):
                return value
        if required:
            raise MlflowError(f"missing value for required parameter '{name}'")
        return None

    def need(self, perm: str, project: str | None) -> None:
        if not allowed(self.user, perm, project):
            what = "every experiment" if project is None else f"experiment {project!r}"
            raise MlflowError(
                f"user {self.user.name!r} may not {perm} on {what}", "PERMISSION_DENIED", 403
            )

    def run(self, perm: str) -> RunRecord:
        run_id = str(self.arg("run_id", "run_uuid"))
        try:
            project = run_project(self.app, run_id)
        except NotFoundError:
            raise MlflowError(f"Run '{run_id}' not found", "RESOURCE_DOES_NOT_EXIST", 404) from None
        self.need(perm, project)
        return self.store.runs.get(run_id)

    # -- experiments ---------------------------------------------------------------------------
    def experiment_names(self) -> dict[str, str]:
        """{experiment id: project name} of every project (ids are the projects' row ids)."""
        out = {"0": DEFAULT_EXPERIMENT}
        for p in self.store.list_projects():
            if p.name != DEFAULT_EXPERIMENT:
                out[str(self.store.ensure_project(p.name))] = p.name
        return out

    def experiment_id(self, name: str) -> str:
        return "0" if name == DEFAULT_EXPERIMENT else str(self.store.ensure_project(name))

    def project_of(self, experiment_id: Any) -> str:
        name = self.experiment_names().get(str(experiment_id))
        if name is None:
            raise MlflowError(
                f"No Experiment with id={experiment_id} exists", "RESOURCE_DOES_NOT_EXIST", 404
            )
        return name

    def experiment_json(self, name: str) -> dict[str, Any]:
        exp_id = self.experiment_id(name)
        created = next(
            (p.created_at for p in self.store.list_projects() if p.name == name), time.time()
        )
        return {
            "experiment_id": exp_id,
            "name": name,
            "artifact_location": f"mlflow-artifacts:/{exp_id}",
            "lifecycle_stage": "active",
            "creation_time": int(created * 1000),
            "last_update_time": int(created * 1000),
            "tags": [],
        }

    # -- runs ----------------------------------------------------------------------------------
    def run_json(self, r: RunRecord) -> dict[str, Any]:
        exp_id = self.experiment_id(r.project)
        tags = dict(r.tags)
        tags.setdefault("mlflow.runName", r.name)
        return {
            "info": {
                "run_id": r.id,
                "run_uuid": r.id,
                "experiment_id": exp_id,
                "run_name": r.name,
                "user_id": tags.get("mlflow.user", ""),
                "status": _TO_MLFLOW.get(r.status, "RUNNING"),
                "start_time": int(r.created_at * 1000),
                "end_time": None if r.ended_at is None else int(r.ended_at * 1000),
                "artifact_uri": f"mlflow-artifacts:/{exp_id}/{r.id}/artifacts",
                "lifecycle_stage": "active",
            },
            "data": {
                "metrics": [
                    {
                        "key": k,
                        "value": _num(s.last),
                        "timestamp": int((r.heartbeat_at or r.created_at) * 1000),
                        "step": s.last_step,
                    }
                    for k, s in r.metrics.items()
                ],
                "params": [{"key": k, "value": _text(v)} for k, v in r.params.items()],
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            },
            "inputs": {},
        }

    def write(self, run_id: str, batch: Batch, final: dict[str, Any] | None = None) -> None:
        """Append one step to the run's server-side journal (creating it when missing)."""
        journal = _journal_id(run_id)
        for _ in range(20):
            offset = self.store.runs.journal_offset(journal)
            if offset is None:
                self.store.runs.open_journal(journal, run_id)
                offset = 0
            try:
                self.store.runs.ingest(journal, run_id, batch, offset, offset + 1, final=final)
                return
            except OffsetMismatch:
                continue  # another call on this run (another worker) went first
        raise MlflowError("the run is too busy; try again", "TEMPORARILY_UNAVAILABLE", 503)


def _journal_id(run_id: str) -> str:
    return ("ml" + run_id)[:32]


def _num(value: float) -> Any:
    # MLflow's JSON carries NaN and infinities as these strings in its protobuf mapping.
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value) if not isinstance(value, (int, float)) else repr(value)


def _points(ctx: _Ctx, metrics: list[dict[str, Any]]) -> list[tuple[int, float, str, float]]:
    out = []
    for m in metrics:
        try:
            value = float(m["value"])
            step = int(m.get("step") or 0)
            t = float(m.get("timestamp") or time.time() * 1000) / 1000.0
        except (KeyError, TypeError, ValueError):
            raise MlflowError(
                f"a metric needs key, numeric value, timestamp, step: {m!r}"
            ) from None
        out.append((step, t, str(m["key"]), value))
    return out


def _params(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {str(p["key"]): encode_param(str(p["key"]), str(p.get("value", ""))) for p in items}


def _tags(items: list[dict[str, Any]]) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items}


# -- handlers: each takes the context, returns the JSON answer ------------------------------------
def _exp_create(c: _Ctx) -> dict[str, Any]:
    name = str(c.arg("name"))
    c.need("runs.write", name)
    if name in set(c.experiment_names().values()):
        raise MlflowError(f"Experiment '{name}' already exists.", "RESOURCE_ALREADY_EXISTS", 400)
    return {"experiment_id": c.experiment_id(name)}


def _exp_get(c: _Ctx) -> dict[str, Any]:
    name = c.project_of(c.arg("experiment_id"))
    c.need("runs.read", name)
    return {"experiment": c.experiment_json(name)}


def _exp_get_by_name(c: _Ctx) -> dict[str, Any]:
    name = str(c.arg("experiment_name"))
    c.need("runs.read", name)
    if name != DEFAULT_EXPERIMENT and name not in set(c.experiment_names().values()):
        raise MlflowError(
            f"Could not find experiment with name '{name}'", "RESOURCE_DOES_NOT_EXIST", 404
        )
    return {"experiment": c.experiment_json(name)}


def _exp_search(c: _Ctx) -> dict[str, Any]:
    names = [n for n in c.experiment_names().values() if allowed(c.user, "runs.read", n)]
    return {"experiments": [c.experiment_json(n) for n in sorted(set(names))]}


def _run_create(c: _Ctx) -> dict[str, Any]:
    project = c.project_of(c.arg("experiment_id", required=False) or "0")
    c.need("runs.write", project)
    tags = _tags(c.args.get("tags", []))
    name = c.arg("run_name", required=False) or tags.get("mlflow.runName")
    run_id = uuid.uuid4().hex
    name = str(name or f"mlflow-{run_id[:8]}")
    if c.args.get("user_id"):
        tags.setdefault("mlflow.user", str(c.args["user_id"]))
    attributes = {"command": "mlflow"}
    c.store.runs.create(run_id, project, name, attributes, {}, tags, journal_id=_journal_id(run_id))
    return {"run": c.run_json(c.store.runs.get(run_id))}


def _run_update(c: _Ctx) -> dict[str, Any]:
    r = c.run("runs.write")
    status = c.args.get("status")
    final = None
    if status and status not in ("RUNNING", "SCHEDULED"):
        if status not in _FROM_MLFLOW:
            raise MlflowError(f"unknown run status {status!r}")
        end = c.args.get("end_time")
        final = {
            "status": _FROM_MLFLOW[status],
            "ended_at": float(end) / 1000 if end else time.time(),
        }
    tags = {"mlflow.runName": str(c.args["run_name"])} if c.args.get("run_name") else {}
    c.write(r.id, Batch(tags=tags), final)
    return {"run_info": c.run_json(c.store.runs.get(r.id))["info"]}


def _run_get(c: _Ctx) -> dict[str, Any]:
    return {"run": c.run_json(c.run("runs.read"))}


def _run_delete(c: _Ctx) -> dict[str, Any]:
    r = c.run("runs.delete")
    c.store.runs.delete([r.id])
    return {}


def _run_search(c: _Ctx) -> dict[str, Any]:
    exp_ids = c.args.get("experiment_ids") or ["0"]
    projects = [c.project_of(e) for e in exp_ids]
    for p in projects:
        c.need("runs.read", p)
    limit = int(c.args.get("max_results") or 1000)
    offset = int(c.args.get("page_token") or 0)
    where = c.args.get("filter") or None
    order = [_order(o) for o in c.args.get("order_by") or []] or None
    try:
        found = c.store.runs.search(projects, where, order, limit + 1, offset)
    except ValidationError as exc:
        raise MlflowError(str(exc)) from None
    out: dict[str, Any] = {"runs": [c.run_json(r) for r in found[:limit]]}
    if len(found) > limit:
        out["next_page_token"] = str(offset + limit)
    return out


def _order(clause: str) -> str:
    parts = clause.strip().split()
    if not parts:
        raise MlflowError(f"bad order_by clause {clause!r}")
    key = parts[0].replace("attributes.", "").replace("attribute.", "")
    key = {"start_time": "created_at", "end_time": "ended_at", "run_name": "name"}.get(key, key)
    desc = len(parts) > 1 and parts[1].upper() == "DESC"
    return ("-" if desc else "") + key


def _log_metric(c: _Ctx) -> dict[str, Any]:
    r = c.run("runs.write")
    metric = {k: c.args.get(k) for k in ("key", "value", "timestamp", "step")}
    c.write(r.id, Batch(points=_points(c, [metric])))
    return {}


def _log_param(c: _Ctx) -> dict[str, Any]:
    r = c.run("runs.write")
    c.write(r.id, Batch(params=_params([{"key": c.arg("key"), "value": c.args.get("value")}])))
    return {}


def _set_tag(c: _Ctx) -> dict[str, Any]:
    r = c.run("runs.write")
    c.write(r.id, Batch(tags=_tags([{"key": c.arg("key"), "value": c.args.get("value")}])))
    return {}


def _log_batch(c: _Ctx) -> dict[str, Any]:
    r = c.run("runs.write")
    batch = Batch(
        points=_points(c, c.args.get("metrics", [])),
        params=_params(c.args.get("params", [])),
        tags=_tags(c.args.get("tags", [])),
    )
    c.write(r.id, batch)
    return {}


def _get_history(c: _Ctx) -> dict[str, Any]:
    r = c.run("runs.read")
    key = str(c.arg("metric_key"))
    steps, times, values = c.store.runs.history(r.id, key)
    return {
        "metrics": [
            {"key": key, "value": _num(v), "timestamp": int(t * 1000), "step": s}
            for s, t, v in zip(steps, times, values, strict=True)
        ]
    }


def _logged_models_search(c: _Ctx) -> dict[str, Any]:
    # MLflow 3 asks for logged models when listing a run's artifacts; loopml has none here.
    return {"models": []}


_POST = {
    "logged-models/search": _logged_models_search,
    "experiments/create": _exp_create,
    "experiments/search": _exp_search,
    "runs/create": _run_create,
    "runs/update": _run_update,
    "runs/delete": _run_delete,
    "runs/search": _run_search,
    "runs/log-metric": _log_metric,
    "runs/log-parameter": _log_param,
    "runs/set-tag": _set_tag,
    "runs/log-batch": _log_batch,
}
_GET = {
    "experiments/get": _exp_get,
    "experiments/get-by-name": _exp_get_by_name,
    "experiments/search": _exp_search,
    "runs/get": _run_get,
    "metrics/get-history": _get_history,
}


async def _handle(request: Request, handler: Any) -> Response:
    from starlette.concurrency import run_in_threadpool

    if request.method == "GET":
        args: Any = dict(request.query_params)
        if "experiment_ids" in request.query_params:
            args["experiment_ids"] = request.query_params.getlist("experiment_ids")
    else:
        raw = await request.body()
        try:
            args = json.loads(raw) if raw else {}
        except ValueError:
            return _fail(MlflowError("the body must be a JSON object"))
        if not isinstance(args, dict):
            return _fail(MlflowError("the body must be a JSON object"))

    def call() -> Response:
        ctx = _Ctx(request, args)
        if not allowed_anywhere(ctx.user, "runs.read"):
            return _fail(MlflowError("no experiment is readable", "PERMISSION_DENIED", 403))
        try:
            return _json(handler(ctx))
        except LoopmlError as exc:
            return _fail(exc)
        except (KeyError, TypeError, ValueError) as exc:
            return _fail(MlflowError(f"bad request: {exc!r}"))

    request.state.audit_detail = f"mlflow {request.url.path.rsplit('/mlflow/', 1)[-1]}"
    return await run_in_threadpool(call)


def _route(method: str, name: str, handler: Any) -> None:
    async def endpoint(request: Request) -> Response:
        return await _handle(request, handler)

    endpoint.__name__ = f"mlflow_{method.lower()}_{name.replace('/', '_').replace('-', '_')}"
    router.add_api_route(f"{API}/{name}", endpoint, methods=[method])


for _name, _fn in _POST.items():
    _route("POST", _name, _fn)
for _name, _fn in _GET.items():
    _route("GET", _name, _fn)


# -- artifacts (mlflow-artifacts:/<experiment>/<run>/artifacts/<path>) ----------------------------
def _artifact_target(c: _Ctx, path: str, perm: str) -> tuple[str, str]:
    """(run id, artifact name or "") for an mlflow-artifacts path; checks permission."""
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[2] != "artifacts":
        raise MlflowError(f"artifact path {path!r} is not <experiment>/<run>/artifacts/...")
    c.args["run_id"] = parts[1]
    run = c.run(perm)
    name = "/".join(parts[3:])
    if name:
        check_artifact_name(name)
    return run.id, name


@router.put(ARTIFACTS + "/{path:path}")
async def mlflow_artifact_upload(request: Request, path: str) -> Response:
    """Upload one artifact file (``mlflow.log_artifact``)."""
    from starlette.concurrency import run_in_threadpool

    body = await request.body()

    def call() -> Response:
        c = _Ctx(request, {})
        try:
            run_id, name = _artifact_target(c, path, "runs.write")
            if not name:
                raise MlflowError("an artifact upload needs a file name")
            with tempfile.TemporaryDirectory(dir=c.store.data_dir) as tmp:
                src = Path(tmp) / "upload"
                src.write_bytes(body)
                records = c.store.runs.copy_artifacts(run_id, src, name)
            c.write(run_id, Batch(artifacts=records))
        except LoopmlError as exc:
            return _fail(exc)
        return _json({})

    return await run_in_threadpool(call)


@router.get(ARTIFACTS + "/{path:path}")
async def mlflow_artifact_download(request: Request, path: str) -> Response:
    """Download one artifact file."""
    from starlette.concurrency import run_in_threadpool

    def call() -> Response:
        c = _Ctx(request, {})
        try:
            run_id, name = _artifact_target(c, path, "runs.read")
            file = c.store.runs.artifact_file(run_id, name)
        except LoopmlError as exc:
            return _fail(exc)
        return FileResponse(file, media_type="application/octet-stream")

    return await run_in_threadpool(call)


@router.get(ARTIFACTS)
async def mlflow_artifact_list(request: Request) -> Response:
    """List the artifacts under ``?path=<experiment>/<run>/artifacts[/folder]``."""
    from starlette.concurrency import run_in_threadpool

    path = request.query_params.get("path", "")

    def call() -> Response:
        c = _Ctx(request, {})
        try:
            run_id, prefix = _artifact_target(c, path, "runs.read")
        except LoopmlError as exc:
            return _fail(exc)
        base = prefix + "/" if prefix else ""
        files: dict[str, dict[str, Any]] = {}
        for a in c.store.runs.list_artifacts(run_id):
            if not a.name.startswith(base):
                continue
            rest = a.name[len(base) :]
            head, sep, _ = rest.partition("/")
            if sep:
                files.setdefault(head, {"path": head, "is_dir": True})
            else:
                files[head] = {"path": head, "is_dir": False, "file_size": a.size}
        return _json({"files": [files[k] for k in sorted(files)]})

    return await run_in_threadpool(call)
