"""The FastAPI application: JSON API under ``/api/v1/``, server-rendered pages, static files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from loopml.store import Store

__all__ = ["create_app"]

_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class _SecurityHeaders:
    """Adds the security headers a response does not set itself: a plain ASGI middleware (the
    ``@app.middleware`` kind runs every request through extra tasks and streams)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in _SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(store: Store | None = None, allowed_hosts: Sequence[str] | None = None) -> FastAPI:
    """Build the dashboard application on ``store`` (default: the store of ``LOOPML_*`` settings).

    ``allowed_hosts`` turns on a Host header check (``serve`` passes the loopback names when it
    binds to loopback, which blocks DNS-rebinding pages from reading the API).
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.middleware.gzip import GZipMiddleware

    from loopml._version import __version__
    from loopml.server._registry import include_routers

    if store is None:
        from loopml.store import Store

        store = Store()
    app = FastAPI(
        title="loopml",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        # The interactive docs pages load their scripts from a CDN; the dashboard loads nothing
        # from the internet, so they are off (the OpenAPI document stays).
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    if allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    app.add_middleware(_SecurityHeaders)

    def _error(request: Request, status: int, message: str) -> Any:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        from loopml.server._deps import render

        return render(request, "error.html", {"status": status, "message": message}, status)

    @app.exception_handler(NotFoundError)
    def _not_found(request: Request, exc: NotFoundError) -> Any:
        return _error(request, 404, str(exc))

    @app.exception_handler(ValidationError)
    def _invalid(request: Request, exc: ValidationError) -> Any:
        return _error(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    def _bad_request(request: Request, exc: RequestValidationError) -> Any:
        parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return _error(request, 400, "; ".join(parts) or "bad request")

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> Any:
        return _error(request, exc.status_code, str(exc.detail))

    # Pages and JSON go out compressed too (static files come precompressed from _static.py).
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    include_routers(app)
    return app
