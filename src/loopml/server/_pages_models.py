"""Pages: registered models (versions, aliases and their history, signature, lineage) and
deployments (live QPS, latency percentiles and class mix from the prediction log)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from loopml.server._auth import can_see
from loopml.server._deps import get_store, render, script_json
from loopml.store import Store

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
StoreDep = Annotated[Store, Depends(get_store)]


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, store: StoreDep) -> HTMLResponse:
    """Every registered model with its versions and aliases."""
    import loopml.registry as reg

    return render(
        request,
        "models.html",
        {
            "nav": "models",
            "title": "Models",
            "models": [m for m in reg.list_models(store=store) if can_see(request, model=m.name)],
        },
    )


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(
    request: Request, store: StoreDep, name: str, version: int | None = None
) -> HTMLResponse:
    """One model: versions, aliases and their history; signature and lineage of one version."""
    import loopml.registry as reg

    versions = reg.versions(name, store=store)
    aliases = store.models.aliases(name)
    by_version: dict[int, list[str]] = {}
    for alias, v in aliases.items():
        by_version.setdefault(v, []).append(alias)
    if version is None:
        version = aliases.get("champion", versions[-1].version if versions else None)
    current = reg.get(f"{name}/{version}", store=store) if version is not None else None
    lineage = current.lineage() if current is not None else None
    return render(
        request,
        "model.html",
        {
            "nav": "models",
            "title": f"Model {name}",
            "name": name,
            "versions": list(reversed(versions)),
            "aliases": aliases,
            "by_version": by_version,
            "history": reg.alias_history(name, store=store),
            "current": current,
            "lineage": lineage,
            "deployed": name in store.predictions.models(),
        },
    )


@router.get("/deployments", response_class=HTMLResponse)
def deployments_page(request: Request, store: StoreDep, minutes: int = 60) -> HTMLResponse:
    """Every model with a prediction log: live QPS, latency percentiles, class mix."""
    import datetime as dt

    from loopml.serving import deployed_models, traffic

    minutes = min(max(minutes, 1), 10_080)
    now = dt.datetime.now(dt.UTC)
    window = [(now - dt.timedelta(minutes=minutes)).isoformat(), now.isoformat()]
    summaries = [
        traffic(n, minutes=minutes, store=store)
        for n in deployed_models(store=store)
        if can_see(request, model=n)
    ]
    charts: dict[str, Any] = {}
    for s in summaries:
        charts[s.model] = {
            "minutes": [m.minute.isoformat() for m in s.series],
            "qps": [round(m.requests / 60, 3) for m in s.series],
            "p50": [m.p50_ms for m in s.series],
            "p99": [m.p99_ms for m in s.series],
            "classes": list(s.classes),
            "counts": list(s.classes.values()),
            "window": window,
        }
    return render(
        request,
        "deployments.html",
        {
            "nav": "deployments",
            "title": "Deployments",
            "summaries": summaries,
            "minutes": minutes,
            "page_data": script_json(charts),
        },
    )
