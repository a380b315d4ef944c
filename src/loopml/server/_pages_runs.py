"""Pages: projects, the runs table, one run.

The runs table keeps its whole state in the URL (``project``, ``q``, ``order``, ``cols``,
``page``, ``per``), so a link shows exactly what its sender saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from loopml._errors import ValidationError
from loopml.server import _format
from loopml.server._deps import get_store, render, script_json
from loopml.server._previews import preview
from loopml.store import RunRecord, RunsPage, Store
from loopml.tracking import SYSTEM_METRICS_PREFIX, MediaItem, read_media

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
StoreDep = Annotated[Store, Depends(get_store)]

PER_PAGE = (25, 50, 100, 200)
_ATTR_COLUMNS = (
    ("name", "name"),
    ("status", "status"),
    ("created_at", "created"),
    ("duration", "duration"),
)
# Metrics and params shown when the URL names no columns (one line per run at 1280 px).
_DEFAULT_SHOWN = 7
_DEFAULT_METRICS = 4


@router.get("/", response_class=HTMLResponse)
def projects_page(request: Request, store: StoreDep) -> HTMLResponse:
    """Every project: run counts, running now, last activity."""
    projects = store.list_projects()
    sweeps = store.sweeps.summaries()
    return render(
        request,
        "projects.html",
        {"nav": "projects", "projects": projects, "sweep_count": len(sweeps), "title": "Projects"},
    )


@dataclass
class Column:
    """A runs-table column: its id (``metrics.acc``), heading, and kind."""

    id: str
    label: str
    kind: str


def cell(run: RunRecord, col: str) -> Any:
    """The value a runs-table column shows for ``run``."""
    kind, _, key = col.partition(".")
    if kind == "params":
        return run.params.get(key)
    if kind == "metrics":
        s = run.metrics.get(key)
        return None if s is None else s.last
    if kind == "tags":
        return run.tags.get(key)
    return getattr(run, col, None)


def _check_columns(cols: list[str]) -> tuple[list[str], str | None]:
    good = [c for c in cols if c.split(".", 1)[0] in ("params", "metrics", "tags") and "." in c]
    bad = [c for c in cols if c not in good]
    if bad:
        return good, (
            f"unknown column {bad[0]!r}: columns are params.<key>, metrics.<key> or tags.<key>"
        )
    return good, None


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    store: StoreDep,
    project: str | None = None,
    q: str | None = None,
    order: str | None = None,
    cols: Annotated[list[str] | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> HTMLResponse:
    """The runs table: filter, sort, paging, column choice, select to compare."""
    project = project or None
    choices = store.runs.column_choices(project)
    if cols:
        shown, error = _check_columns(cols)
    else:
        # As many as fit on one line at 1280 px: metrics first, then params.
        budget = _DEFAULT_SHOWN - (1 if project is None else 0)
        shown = [f"metrics.{k}" for k in choices.metrics[:_DEFAULT_METRICS]]
        shown += [f"params.{k}" for k in choices.params[: max(0, budget - len(shown))]]
        error = None
    result: RunsPage | None = None
    try:
        result = store.runs.page(project, q or None, order or None, per, (page - 1) * per)
    except ValidationError as exc:
        # A bad filter or sort is the user's typo, not a server fault: say what is wrong.
        error = str(exc)
    state = {"project": project, "q": q, "order": order, "cols": cols or None, "per": per}
    # Runs of several projects (no ?project=): a project column says which is which.
    show_project = project is None and len(store.list_projects()) > 1
    attrs = [Column(a, label, "attr") for a, label in _ATTR_COLUMNS]
    if show_project:
        attrs.insert(1, Column("project", "project", "attr"))
    columns = attrs + [Column(c, c.split(".", 1)[1], c.split(".", 1)[0]) for c in shown]
    rows = []
    for r in result.runs if result else []:
        rows.append({"run": r, "cells": [cell(r, c.id) for c in columns[len(attrs) :]]})
    total = result.total if result else 0
    pages = max(1, -(-total // per))
    return render(
        request,
        "runs.html",
        {
            "nav": "runs",
            "title": "Runs",
            "state": state,
            "query": _format.query,
            "columns": columns,
            "extra_columns": columns[len(attrs) :],
            "show_project": show_project,
            "choices": choices,
            "shown": set(shown),
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "per_options": sorted({*PER_PAGE, per}),
            "error": error,
            "sort_key": (order or "").lstrip("-"),
            "sort_desc": (order or "").startswith("-"),
            "first_index": (page - 1) * per + 1,
        },
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, store: StoreDep, run_id: str) -> HTMLResponse:
    """One run: charts, params, tags, summary, system info, artifacts with previews."""
    run = store.runs.get(run_id)
    media = read_media(store, run.id)
    # Media files are shown in the Media section, not one by one among the artifacts.
    artifacts = [a for a in store.runs.list_artifacts(run.id) if not a.name.startswith("media/")]
    previews = {a.name: preview(store, run.id, a) for a in artifacts[:12]}
    data = {
        "runs": [{"id": run.id, "name": run.name}],
        "keys": list(run.metrics),
        "status": run.status,
    }
    return render(
        request,
        "run.html",
        {
            "nav": "runs",
            "title": run.name,
            "run": run,
            "system_keys": [k for k in run.metrics if k.startswith(SYSTEM_METRICS_PREFIX)],
            "project": run.project,
            "artifacts": artifacts,
            "previews": previews,
            "page_data": script_json(data),
            "media": media,
            "media_data": script_json(
                {"run": run.id, "media": [_media_view(k, v) for k, v in media.items()]}
            ),
        },
    )


_MAX_TABLE_STEPS = 20  # tables are the heavy kind: the page carries the last 20 steps


def _media_view(key: str, items: list[MediaItem]) -> dict[str, Any]:
    """What media.js needs to draw one key's media over steps."""
    kind = items[-1].kind if items else "none"
    items = [m for m in items if m.kind == kind]
    if kind == "table":
        items = items[-_MAX_TABLE_STEPS:]
    view: dict[str, Any] = {
        "key": key,
        "kind": kind,
        "steps": [m.step for m in items],
        "captions": [m.caption for m in items],
    }
    if kind == "image":
        view["files"] = [m.data["file"] for m in items]
    elif kind == "histogram":
        view["edges"] = [m.data["edges"] for m in items]
        view["counts"] = [m.data["counts"] for m in items]
    elif kind == "table":
        view["tables"] = [{"columns": m.data["columns"], "rows": m.data["rows"]} for m in items]
    return view
