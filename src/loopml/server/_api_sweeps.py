"""JSON API for sweeps (``/api/v1/sweeps``), read from their trials."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from loopml.server._api_runs import run_json
from loopml.server._deps import get_store, jsonable
from loopml.server._sweep_view import build_sweep_view
from loopml.store import Store

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["sweeps"])
StoreDep = Annotated[Store, Depends(get_store)]


@router.get("/sweeps")
def list_sweeps(store: StoreDep, project: str | None = None) -> list[dict[str, Any]]:
    """Every sweep with trial counts by status, newest first."""
    return [
        {
            "id": s.sweep_id,
            "project": s.project,
            "trials": s.trials,
            "by_status": s.by_status,
            "started_at": s.started_at,
            "last_activity": s.last_activity,
        }
        for s in store.sweeps.summaries(project)
    ]


@router.get("/sweeps/{sweep_id}")
def get_sweep(
    store: StoreDep, sweep_id: str, metric: str | None = None, direction: str | None = None
) -> dict[str, Any]:
    """A sweep: objective, progress, best trial, best-so-far curve, importances, trials."""
    v = build_sweep_view(store, sweep_id, metric, direction)
    return jsonable(
        {
            "id": v.sweep_id,
            "project": v.project,
            "metric": v.metric,
            "direction": v.direction,
            "budget": v.budget,
            "by_status": v.by_status,
            "best": v.best.id if v.best else None,
            "curve": v.curve,
            "importances": v.importances,
            "importance_note": v.importance_note,
            "trials": [run_json(t, full=False) for t in v.trials],
        }
    )
