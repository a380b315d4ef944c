"""``loopml server``: the dashboard and API of ``loopml ui`` behind logins, for a team.

``create_team_app`` adds to the dashboard app: the login page and logout, the tracking client's
backend calls (``_api_backend``), and :class:`AuthMiddleware` in front of everything, with a
Host header check outside it. ``serve_team`` runs it with uvicorn, in several worker processes
when asked (they share the store's database and artifact folder; nothing else is shared).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from loopml._errors import ValidationError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from loopml.store import Store

__all__ = ["DEFAULT_MAX_BODY", "app_from_env", "create_team_app", "serve_team"]

DEFAULT_MAX_BODY = 64 * 1024 * 1024


def create_team_app(
    store: Store,
    allowed_hosts: Sequence[str] | None = ("127.0.0.1", "localhost", "::1"),
    max_body: int = DEFAULT_MAX_BODY,
) -> FastAPI:
    """The dashboard on ``store`` with authentication, roles, CSRF, body limit and audit log."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from loopml.server import _api_backend, _api_stores, _login_routes, _mlflow
    from loopml.server._app import create_app
    from loopml.server._auth import AuthMiddleware, RateLimiter

    app = create_app(store)
    app.state.run_projects = {}
    # Logins: 5 failures per user name and address, 30 per address, in 5 minutes, counted in
    # the store so every worker and replica shares them.
    app.state.login_limiter = RateLimiter(store, "login", limit=5, window=300.0)
    app.state.address_limiter = RateLimiter(store, "address", limit=30, window=300.0)
    app.include_router(_api_backend.router)
    app.include_router(_api_stores.router)
    app.include_router(_login_routes.router)
    app.include_router(_mlflow.router)
    app.add_middleware(AuthMiddleware, fastapi_app=app, max_body=max_body)
    if allowed_hosts is not None:
        # Added last, so it runs first: a foreign Host header is refused before anything else.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app


def app_from_env() -> FastAPI:
    """The team app for a uvicorn worker process (``--workers N``), configured by environment."""
    from loopml.store import Store

    hosts = os.environ.get("LOOPML_SERVER_HOSTS")
    return create_team_app(
        Store(),
        allowed_hosts=hosts.split(",") if hosts else None,
        max_body=int(os.environ.get("LOOPML_SERVER_MAX_BODY", DEFAULT_MAX_BODY)),
    )


def serve_team(
    store_url: str,
    artifacts: str,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    workers: int = 1,
    allow_remote: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    log_level: str = "warning",
) -> None:
    """Serve the team app until Ctrl-C (loopback unless ``allow_remote``)."""
    import uvicorn

    from loopml._config import Settings
    from loopml._net import check_port, is_loopback
    from loopml.server._serve import LOOPBACK_HOSTS
    from loopml.store import Store

    if not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"--workers must be a positive integer, not {workers!r}")
    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        raise ValidationError(
            f"refusing to serve on {host!r}: the server binds to 127.0.0.1 unless you pass "
            "--allow-remote (put it behind a TLS proxy: logins and tokens travel in the clear)"
        )
    port = check_port(host, port, reuse_address=True)
    hosts = list(LOOPBACK_HOSTS) if loopback else None
    os.environ["LOOPML_STORE"] = store_url
    os.environ["LOOPML_DIR"] = str(artifacts)
    os.environ["LOOPML_SERVER_MAX_BODY"] = str(max_body)
    if hosts:
        os.environ["LOOPML_SERVER_HOSTS"] = ",".join(hosts)
    # Open (and migrate) the store once here, so workers start on a current schema.
    Store(Settings(data_dir=Settings.from_env().data_dir, store_url=store_url)).close()
    shown = f"[{host}]" if ":" in host else host
    print(
        f"loopml server: http://{shown}:{port}/  ({workers} worker(s); Ctrl-C to stop)", flush=True
    )
    with contextlib.suppress(KeyboardInterrupt):
        if workers == 1:
            uvicorn.run(app_from_env(), host=host, port=port, log_level=log_level)
        else:
            _run_workers(host, port, workers, log_level)


def _run_workers(host: str, port: int, workers: int, log_level: str) -> None:
    """Run ``workers`` processes of the team app, each listening on a socket of its own.

    As ``uvicorn.run`` does for several workers, but with :func:`loopml._net.worker_socket`:
    clients keep their connections open, and on one shared socket the worker that wakes first
    would accept most of them and leave the others idle.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from loopml._net import worker_socket

    config = uvicorn.Config(
        "loopml.server._team:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
    sock = worker_socket(host, port)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
