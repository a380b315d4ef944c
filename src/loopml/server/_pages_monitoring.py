"""Monitoring pages: monitors, the sparkline grid (sorted by anomaly) with the drift heatmap,
alerts with useful/noise buttons, and the usefulness and prune page. Every number comes from
``loopml.monitoring``; this module only lays it out (sparkline coordinates are drawing)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from loopml._errors import LoopmlError
from loopml.server._auth import can_see
from loopml.server._deps import get_store, render, script_json
from loopml.store import Store

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
StoreDep = Annotated[Store, Depends(get_store)]
_W, _H = 150, 34


def _points(values: Sequence[float | None]) -> str:
    """SVG polyline points of a sparkline (gaps skipped)."""
    clean = [v for v in values if v is not None and math.isfinite(v)]
    if not clean:
        return ""
    lo, hi = min(clean), max(clean)
    span = hi - lo or 1.0
    step = _W / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{_H - 3 - (v - lo) / span * (_H - 6):.1f}"
        for i, v in enumerate(values)
        if v is not None and math.isfinite(v)
    )


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/monitoring", response_class=HTMLResponse)
def monitors_page(request: Request, store: StoreDep) -> HTMLResponse:
    """Every monitored model with its window, active metrics and alerts."""
    surface = store.monitors
    rows = []
    for m in surface.list_monitors():
        if not can_see(request, model=m.model):
            continue
        incidents = surface.incidents(m.model)
        rows.append(
            {
                "model": m.model,
                "window": m.config.get("window_seconds"),
                "reference": m.config.get("reference"),
                "active": len(surface.metrics(m.model, "active")),
                "alerts": sum(i.n_alerts for i in incidents),
                "incidents": len(incidents),
                "unjudged": sum(i.n_alerts - i.n_useful - i.n_noise for i in incidents),
            }
        )
    return render(
        request,
        "monitoring/monitors.html",
        {"nav": "monitoring", "title": "Monitoring", "rows": rows},
    )


@router.get("/monitoring/{model}", response_class=HTMLResponse)
def grid_page(
    request: Request, store: StoreDep, model: str, group: str | None = None
) -> HTMLResponse:
    """Sparklines of every active metric, most anomalous first, and the drift heatmap."""
    import loopml.monitoring as mon

    lines = mon.sparklines(model, store=store)
    groups = sorted({s.group for s in lines})
    shown = [s for s in lines if group in (None, "", s.group)]
    heat = mon.drift_heatmap(model, store=store)
    data = {"features": heat.features, "starts": heat.starts, "scores": heat.scores}
    return render(
        request,
        "monitoring/grid.html",
        {
            "nav": "monitoring",
            "title": f"Monitoring: {model}",
            "model": model,
            "lines": [(s, _points(s.values)) for s in shown[:400]],
            "n_total": len(shown),
            "groups": groups,
            "group": group or "",
            "page_data": script_json(data),
            "has_heat": bool(heat.features),
            "w": _W,
            "h": _H,
        },
    )


@router.get("/monitoring/{model}/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request, store: StoreDep, model: str, verdict: str | None = None
) -> HTMLResponse:
    """Alerts newest first, grouped by incident, with useful / noise buttons."""
    import loopml.monitoring as mon

    alerts = mon.alerts(model, verdict=verdict or None, limit=500, store=store)
    incidents = {i.id: i for i in mon.incidents(model, store=store)}
    return render(
        request,
        "monitoring/alerts.html",
        {
            "nav": "monitoring",
            "title": f"Alerts: {model}",
            "model": model,
            "alerts": alerts,
            "incidents": incidents,
            "verdict": verdict or "",
        },
    )


async def _posted(
    request: Request, handle: Callable[[Store, dict[str, str]], RedirectResponse]
) -> RedirectResponse:
    from urllib.parse import parse_qsl

    from starlette.concurrency import run_in_threadpool

    body = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    return await run_in_threadpool(handle, get_store(request), form)


@router.post("/monitoring/{model}/alerts/{alert_id}/verdict")
async def verdict_action(request: Request, model: str, alert_id: int) -> RedirectResponse:
    """Mark one alert (or its whole incident) useful or noise."""

    def handle(store: Store, form: dict[str, str]) -> RedirectResponse:
        import loopml.monitoring as mon

        verdict = form.get("verdict") or None
        ids = [alert_id]
        if form.get("scope") == "incident":
            alert = store.monitors.alert(alert_id)
            ids = [a.id for a in mon.alerts(model, incident=alert.incident_id, store=store)]
        mon.mark(ids, verdict, by=form.get("by") or "web", store=store)
        return _see(f"/monitoring/{model}/alerts#a{alert_id}")

    return await _posted(request, handle)


@router.post("/monitoring/{model}/alerts/{alert_id}/label")
async def label_action(request: Request, model: str, alert_id: int) -> RedirectResponse:
    """Send the alert's drifted rows to a new labeling project."""

    def handle(store: Store, form: dict[str, str]) -> RedirectResponse:
        import loopml.monitoring as mon

        handoff = mon.send_to_labeling(alert_id, n=int(form.get("n") or 200), store=store)
        return _see(f"/labeling/{handoff.project}")

    return await _posted(request, handle)


@router.get("/monitoring/{model}/prune", response_class=HTMLResponse)
def prune_page(request: Request, store: StoreDep, model: str) -> HTMLResponse:
    """Per-metric usefulness, the pruning suggestion with reasons, pruned metrics, versions."""
    import loopml.monitoring as mon

    table = mon.usefulness(model, store=store)
    plan = mon.prune(model, store=store)
    reasons = {s.metric: s for s in plan.prune}
    rows = (
        table.sort_values(["useful", "alerts"], ascending=False).to_dict("records")
        if not table.empty  # a monitor with no metric yet has no columns to sort by
        else []
    )
    return render(
        request,
        "monitoring/prune.html",
        {
            "nav": "monitoring",
            "title": f"Usefulness: {model}",
            "model": model,
            "rows": rows,
            "reasons": reasons,
            "plan": plan,
            "pruned": mon.catalog(model, state="pruned", store=store),
            "versions": mon.catalog_versions(model, store=store),
        },
    )


@router.post("/monitoring/{model}/prune")
async def prune_action(request: Request, model: str) -> RedirectResponse:
    """Apply the pruning suggestion (history is kept)."""

    def handle(store: Store, form: dict[str, str]) -> RedirectResponse:
        import loopml.monitoring as mon

        mon.prune(model, apply=True, store=store)
        return _see(f"/monitoring/{model}/prune")

    return await _posted(request, handle)


@router.post("/monitoring/{model}/restore")
async def restore_action(request: Request, model: str) -> RedirectResponse:
    """Bring one pruned metric back."""

    def handle(store: Store, form: dict[str, str]) -> RedirectResponse:
        import loopml.monitoring as mon

        # Already active or unknown: the page shows the catalog as it is.
        with contextlib.suppress(LoopmlError):
            mon.restore(model, [form.get("metric", "")], store=store)
        return _see(f"/monitoring/{model}/prune")

    return await _posted(request, handle)
