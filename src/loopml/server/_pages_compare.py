"""The compare page: overlaid metric charts, differing params, parallel coordinates, scatter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from loopml._errors import ValidationError
from loopml.server._deps import get_store, render, script_json
from loopml.store import RunRecord, Store
from loopml.tracking import read_media

__all__ = ["router", "trials_data"]

router = APIRouter(include_in_schema=False)
StoreDep = Annotated[Store, Depends(get_store)]

MAX_COMPARED = 50
_DEFAULT_KEYS = 8


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return list(dict.fromkeys(out))


def differing_params(runs: list[RunRecord]) -> tuple[list[str], list[str]]:
    """(keys whose values differ between runs, keys that are the same everywhere)."""
    keys = sorted({k for r in runs for k in r.params})
    differ: list[str] = []
    same: list[str] = []
    for k in keys:
        values = {repr(r.params.get(k, _MISSING)) for r in runs}
        (differ if len(values) > 1 else same).append(k)
    return differ, same


_MISSING = object()


def trials_data(runs: list[RunRecord], metric: str | None) -> dict[str, Any]:
    """Params and one metric per run, for the parallel-coordinates and scatter plots."""
    differ, _ = differing_params(runs) if len(runs) > 1 else ([], [])
    rows = []
    for r in runs:
        s = r.metrics.get(metric) if metric else None
        rows.append(
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "params": {k: r.params.get(k) for k in differ},
                "value": None if s is None else s.last,
            }
        )
    return {"metric": metric, "params": differ, "trials": rows}


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    store: StoreDep,
    runs: Annotated[list[str] | None, Query()] = None,
    keys: Annotated[list[str] | None, Query()] = None,
    metric: str | None = None,
    all_params: bool = False,
) -> HTMLResponse:
    """Compare runs chosen in the runs table (``?runs=a&runs=b`` or ``?runs=a,b``)."""
    ids = _split(runs)
    error = None
    if len(ids) > MAX_COMPARED:
        error = f"{len(ids)} runs were chosen; compare at most {MAX_COMPARED} at a time (showing the first {MAX_COMPARED})"
        ids = ids[:MAX_COMPARED]
    records: list[RunRecord] = []
    try:
        records = store.runs.get_many([store.runs.resolve_id(i) for i in ids])
    except (ValidationError, LookupError) as exc:
        error = str(exc)
    all_keys = sorted({k for r in records for k in r.metrics})
    chosen = [k for k in _split(keys) if k in all_keys] or all_keys[:_DEFAULT_KEYS]
    metric = metric if metric in all_keys else (chosen[0] if chosen else None)
    differ, same = differing_params(records)
    media = {r.id: read_media(store, r.id, per_key=1) for r in records}  # last step of each key
    media_keys = sorted({k for m in media.values() for k in m})
    data = {
        "runs": [{"id": r.id, "name": r.name} for r in records],
        "keys": chosen,
        "trials": trials_data(records, metric),
    }
    return render(
        request,
        "compare.html",
        {
            "nav": "compare",
            "title": "Compare runs",
            "runs": records,
            "ids": [r.id for r in records],
            "all_keys": all_keys,
            "chosen": set(chosen),
            "metric": metric,
            "differ": differ,
            "same": same,
            "all_params": all_params,
            "error": error,
            "page_data": script_json(data),
            "media": media,
            "media_keys": media_keys,
            "project": records[0].project
            if records and len({r.project for r in records}) == 1
            else None,
        },
    )
