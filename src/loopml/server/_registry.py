"""The one place that lists the dashboard's pages (navigation) and routers.

How to add a capability's pages (labeling, registry, monitoring...):

1. Write ``loopml/server/_pages_<name>.py`` (HTML) and/or ``_api_<name>.py`` (JSON under
   ``/api/v1/``), each defining ``router = APIRouter()``. Handlers that touch the store are
   plain ``def`` (FastAPI runs them in a thread) and get it with ``store: Store = Depends(get_store)``.
   Pages render with ``render(request, "<name>.html", {...})`` from ``server/_deps.py``; the
   template starts with ``{% extends "base.html" %}`` and fills ``{% block content %}``.
2. Add the module name to :data:`ROUTER_MODULES` below (one line).
3. Add a :class:`NavItem` to :data:`NAV_ITEMS` (one line) if it should appear in the sidebar;
   ``section`` is what the page passes as ``nav`` in its context to light the item up.

Nothing else needs to change: ``create_app`` includes every router listed here, in order.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["NAV_ITEMS", "ROUTER_MODULES", "NavItem", "include_routers"]


@dataclass(frozen=True)
class NavItem:
    """A sidebar entry: its label, the path it links to, and the section it lights up for."""

    label: str
    path: str
    section: str
    icon: str = "•"  # one character (or emoji) shown before the label
    project_scoped: bool = True  # carry the current ``?project=`` along when following it


NAV_ITEMS: list[NavItem] = [
    NavItem("Projects", "/", "projects", "▦", project_scoped=False),
    NavItem("Runs", "/runs", "runs", "≡"),
    NavItem("Compare", "/compare", "compare", "⇄"),
    NavItem("Sweeps", "/sweeps", "sweeps", "◎"),
    NavItem("Labeling", "/labeling", "labeling", "✎", project_scoped=False),
    NavItem("Evaluations", "/evaluations", "evaluations", "◩", project_scoped=False),
    NavItem("Models", "/models", "models", "◆", project_scoped=False),
    NavItem("Deployments", "/deployments", "deployments", "▶", project_scoped=False),
    NavItem("Monitoring", "/monitoring", "monitoring", "◔", project_scoped=False),
]

# Modules defining ``router``; JSON APIs first so their paths win over any page pattern.
ROUTER_MODULES: list[str] = [
    "loopml.server._api_runs",
    "loopml.server._api_sweeps",
    "loopml.server._api_monitoring",
    "loopml.server._pages_runs",
    "loopml.server._pages_compare",
    "loopml.server._pages_sweeps",
    "loopml.server._labeling_routes",
    "loopml.server._static",
    "loopml.server._pages_evaluations",
    "loopml.server._pages_models",
    "loopml.server._pages_monitoring",
]


def include_routers(app: FastAPI) -> None:
    """Include the ``router`` of every module in :data:`ROUTER_MODULES`."""
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)
