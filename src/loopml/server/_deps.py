"""What route handlers share: the store dependency, template rendering, safe JSON for pages."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from loopml.server import _format
from loopml.server._registry import NAV_ITEMS
from loopml.server._static import asset_url
from loopml.store import Store

__all__ = ["get_store", "jsonable", "render", "script_json", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# Jinja2Templates turns autoescaping on for .html; it is set again here so no edit can lose it.
templates.env.autoescape = True
templates.env.filters.update(_format.FILTERS)
templates.env.globals["nav_items"] = NAV_ITEMS
# ``asset("app.js")``: a static file's content-hashed URL (cached by the browser for a year).
templates.env.globals["asset"] = asset_url


def get_store(request: Request) -> Store:
    """The app's store (FastAPI dependency)."""
    store: Store = request.app.state.store
    return store


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render template ``name`` with ``context`` (``nav`` picks the lit sidebar item)."""
    context.setdefault("project", request.query_params.get("project") or None)
    context.setdefault("nav", "")
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

    Standard JSON has no such numbers; the strings keep them visible instead of turning them
    into ``null``.
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def script_json(value: Any) -> str:
    """JSON safe to put inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    text = json.dumps(jsonable(value), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
