"""JSON API for monitoring (``/api/v1/monitoring``): alerts and their verdicts, metric values."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from loopml.server._deps import get_store, jsonable
from loopml.store import Store

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
StoreDep = Annotated[Store, Depends(get_store)]


@router.get("/monitoring/{model}/alerts")
def list_alerts(
    store: StoreDep, model: str, verdict: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The model's alerts, newest first (``verdict``: useful, noise or none)."""
    import loopml.monitoring as mon

    alerts = mon.alerts(model, verdict=verdict, limit=limit, store=store)
    return [jsonable(dataclasses.asdict(a)) for a in alerts]


@router.post("/monitoring/{model}/alerts/{alert_id}/verdict")
def set_verdict(
    store: StoreDep,
    model: str,
    alert_id: int,
    verdict: Annotated[str | None, Body(embed=True)],
    by: Annotated[str | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    """Mark an alert useful or noise (null clears the verdict)."""
    import loopml.monitoring as mon

    mon.mark([alert_id], verdict, by=by, store=store)
    return jsonable(dataclasses.asdict(store.monitors.alert(alert_id)))


@router.get("/monitoring/{model}/values")
def metric_values(
    store: StoreDep, model: str, metric: str, since: float | None = None
) -> dict[str, Any]:
    """One metric's stored values per window (epoch seconds)."""
    import loopml.monitoring as mon

    wide = mon.values(model, metrics=[metric], since=since, store=store)
    if wide.empty:
        return {"metric": metric, "windows": [], "values": []}
    return jsonable(
        {
            "metric": metric,
            "windows": [t.timestamp() for t in wide.index],
            "values": [float(v) for v in wide[metric]],
        }
    )
