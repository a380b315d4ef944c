"""Pages: the sweeps list and one sweep (progress, best so far, importances, trials)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from loopml.server._deps import get_store, render, script_json
from loopml.server._pages_compare import differing_params, trials_data
from loopml.server._sweep_view import build_sweep_view
from loopml.store import Store

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
StoreDep = Annotated[Store, Depends(get_store)]


@router.get("/sweeps", response_class=HTMLResponse)
def sweeps_page(request: Request, store: StoreDep, project: str | None = None) -> HTMLResponse:
    """Every sweep (of a project), newest first."""
    sweeps = store.sweeps.summaries(project or None)
    records = store.sweeps.infos([s.sweep_id for s in sweeps]) if sweeps else {}
    return render(
        request,
        "sweeps.html",
        {"nav": "sweeps", "title": "Sweeps", "sweeps": sweeps, "records": records},
    )


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
def sweep_page(
    request: Request,
    store: StoreDep,
    sweep_id: str,
    metric: str | None = None,
    direction: str | None = None,
) -> HTMLResponse:
    """One sweep: progress, best-so-far curve, parameter importances, trials."""
    v = build_sweep_view(store, sweep_id, metric, direction)
    differ, _ = differing_params(v.trials)
    data = {
        "curve": v.curve,
        "metric": v.metric,
        "direction": v.direction,
        "importances": v.importances,
        "trials": trials_data(v.trials, v.metric),
    }
    done = sum(n for s, n in v.by_status.items() if s != "running")
    return render(
        request,
        "sweep.html",
        {
            "nav": "sweeps",
            "title": f"Sweep {sweep_id}",
            "v": v,
            "project": v.project,
            "differ": differ,
            "done": done,
            "total": max(v.budget or 0, len(v.trials)),
            "page_data": script_json(data),
        },
    )
