"""The dashboard: one FastAPI app serving the JSON API (``/api/v1/``) and the web pages.

    from loopml.server import create_app, serve
    serve(host="127.0.0.1", port=8765)      # prints the URL, blocks until Ctrl-C

Pages and routers are registered in one place, ``loopml/server/_registry.py``; its docstring
says how a capability adds its own.
"""

from loopml.server._app import create_app
from loopml.server._registry import NAV_ITEMS, ROUTER_MODULES, NavItem
from loopml.server._serve import is_loopback, serve
from loopml.server._team import create_team_app, serve_team

__all__ = [
    "NAV_ITEMS",
    "ROUTER_MODULES",
    "NavItem",
    "create_app",
    "create_team_app",
    "is_loopback",
    "serve",
    "serve_team",
]
