"""Serving the dashboard with uvicorn: ``serve()`` blocks until Ctrl-C."""

from __future__ import annotations

import contextlib

from loopml._errors import ValidationError
from loopml._net import check_port, is_loopback

__all__ = ["LOOPBACK_HOSTS", "is_loopback", "serve"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    allow_remote: bool = False,
    store: object | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the dashboard on ``host:port``, print its URL, and block until Ctrl-C.

    Binding anything but loopback exposes every run to the network without authentication,
    so it needs ``allow_remote=True`` (``loopml ui --allow-remote``).
    """
    import uvicorn

    from loopml.server._app import create_app

    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValidationError(f"port must be an integer from 0 to 65535, not {port!r}")
    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        raise ValidationError(
            f"refusing to serve on {host!r}: the dashboard has no authentication, so it binds to "
            "127.0.0.1 only; pass --allow-remote (allow_remote=True) to expose it on purpose"
        )
    port = check_port(host, port)
    hosts = list(LOOPBACK_HOSTS) if loopback else None
    app = create_app(store, allowed_hosts=hosts)  # type: ignore[arg-type]
    shown = f"[{host}]" if ":" in host else host
    print(f"loopml dashboard: http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
    # uvicorn handles SIGINT itself; the suppress covers one that arrives before it starts.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=host, port=port, log_level=log_level)
