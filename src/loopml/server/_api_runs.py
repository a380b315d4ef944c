"""JSON API for projects, runs, metric series and artifacts (``/api/v1/...``).

Handlers are plain ``def``: FastAPI runs them in its thread pool, so a slow query never blocks
the event loop.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from loopml.server._deps import get_store, jsonable
from loopml.store import MAX_SERIES_POINTS, RunRecord, Store

__all__ = ["router", "run_json"]

router = APIRouter(prefix="/api/v1", tags=["runs"])

StoreDep = Annotated[Store, Depends(get_store)]

# Types a browser may show inline; anything else downloads. Every artifact response also gets
# ``Content-Security-Policy: sandbox`` so an HTML or SVG artifact cannot run script as the app.
_INLINE = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
    "application/json",
)


def run_json(r: RunRecord, full: bool = True) -> dict[str, Any]:
    """A run as JSON-ready data (NaN and infinities as strings, see ``jsonable``)."""
    out: dict[str, Any] = {
        "id": r.id,
        "project": r.project,
        "name": r.name,
        "status": r.status,
        "created_at": r.created_at,
        "ended_at": r.ended_at,
        "heartbeat_at": r.heartbeat_at,
        "duration": r.duration,
        "sweep_id": r.sweep_id,
        "params": r.params,
        "tags": r.tags,
        "metrics": {
            k: {
                "last": s.last,
                "last_step": s.last_step,
                "min": s.min,
                "max": s.max,
                "count": s.count,
            }
            for k, s in r.metrics.items()
        },
    }
    if full:
        out.update(
            git_commit=r.git_commit,
            git_dirty=r.git_dirty,
            command=r.command,
            host=r.host,
            pid=r.pid,
            environment=r.environment,
            error=r.error,
        )
    return jsonable(out)


@router.get("/projects")
def list_projects(store: StoreDep) -> list[dict[str, Any]]:
    """Every project with its run counts and last activity."""
    return [
        {
            "name": p.name,
            "created_at": p.created_at,
            "runs": p.run_count,
            "running": p.running,
            "last_activity": p.last_activity,
        }
        for p in store.list_projects()
    ]


@router.get("/runs")
def search_runs(
    store: StoreDep,
    project: str | None = None,
    q: Annotated[str | None, Query(description="filter, e.g. metrics.acc > 0.9")] = None,
    order: Annotated[str | None, Query(description="sort keys, e.g. -metrics.acc,name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """One page of runs matching a filter (the ``loopml.runs`` query language), and the total."""
    page = store.runs.page(project, q or None, _order_list(order), limit, offset)
    return {
        "total": page.total,
        "offset": offset,
        "limit": limit,
        "runs": [run_json(r, full=False) for r in page.runs],
    }


def _order_list(order: str | None) -> list[str] | None:
    if not order:
        return None
    return [part.strip() for part in order.split(",") if part.strip()]


@router.get("/runs/{run_id}")
def get_run(store: StoreDep, run_id: str) -> dict[str, Any]:
    """One run (by id or unique prefix) with params, tags, metric summaries and system info."""
    return run_json(store.runs.get(run_id))


@router.get("/columns")
def columns(store: StoreDep, project: str | None = None) -> dict[str, list[str]]:
    """The param, metric and tag keys of recent runs (what a runs table can show)."""
    c = store.runs.column_choices(project)
    return {"params": c.params, "metrics": c.metrics, "tags": c.tags}


@router.get("/series")
def series(
    store: StoreDep,
    run: Annotated[list[str], Query(description="run ids (repeat the parameter)")],
    key: Annotated[list[str], Query(description="metric keys (repeat the parameter)")],
    max_points: Annotated[int, Query(ge=4, le=100_000)] = MAX_SERIES_POINTS,
) -> dict[str, Any]:
    """Metric series of runs, each downsampled on the server to at most ``max_points`` points."""
    ids = [store.runs.resolve_id(r) for r in run[:50]]
    out: dict[str, Any] = {}
    for k in key[:50]:
        out[k] = {
            rid: {
                "steps": s.steps,
                "times": s.times,
                "values": s.values,
                "total": s.total,
                "downsampled": s.downsampled,
            }
            for rid, s in store.runs.series(ids, k, max_points).items()
        }
    return {"series": jsonable(out)}


@router.get("/runs/{run_id}/artifacts")
def list_artifacts(store: StoreDep, run_id: str) -> list[dict[str, Any]]:
    """A run's artifacts: name, size, sha256, time."""
    rid = store.runs.resolve_id(run_id)
    return [
        {"name": a.name, "size": a.size, "sha256": a.sha256, "created_at": a.created_at}
        for a in store.runs.list_artifacts(rid)
    ]


@router.get("/runs/{run_id}/artifacts/{name:path}")
def get_artifact(store: StoreDep, run_id: str, name: str) -> FileResponse:
    """An artifact's bytes; the name is checked (no ``..``, no absolute path)."""
    rid = store.runs.resolve_id(run_id)
    path = store.runs.artifact_file(rid, name)
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    inline = media in _INLINE
    return FileResponse(
        path,
        media_type=media if inline else "application/octet-stream",
        filename=path.name,
        content_disposition_type="inline" if inline else "attachment",
        headers={"Content-Security-Policy": "sandbox"},
    )
