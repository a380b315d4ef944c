"""Authentication and authorization for ``loopml server``: one ASGI middleware, one route table.

Every route of the app has an entry in :data:`ROUTE_POLICY` naming the permission it needs and
where the project it touches comes from. The middleware matches a request to its route, finds
the user (an API token in ``Authorization: Bearer``, or a browser session cookie), checks the
permission on that project, checks the CSRF token of a cookie-authenticated write, caps the body
(413), and records every write in the audit log (an upload's row is written in the ingest's own
transaction, see ``_api_backend``). A route without an entry is refused for everyone (fail
closed), and a test enumerates the routes so such a route fails the suite.
"""

from __future__ import annotations

import hmac
import json
import re
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from loopml.store import Store, UserRecord

__all__ = [
    "ROLE_PERMISSIONS",
    "ROUTE_POLICY",
    "AuthMiddleware",
    "Policy",
    "RateLimiter",
    "allowed",
    "allowed_anywhere",
    "app_routes",
    "can_see",
    "evaluation_project",
    "model_project",
    "remember_run_project",
    "run_project",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SESSION_COOKIE = "loopml_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SAFE = {"GET", "HEAD", "OPTIONS"}

_READ = {"runs.read", "label.read"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "annotator": frozenset({"label.annotate"}),
    "viewer": frozenset(_READ),
    "member": frozenset(_READ | {"runs.write", "label.annotate"}),
    "maintainer": frozenset(
        _READ | {"runs.write", "runs.delete", "label.annotate", "label.manage"}
    ),
    "admin": frozenset(
        _READ | {"runs.write", "runs.delete", "label.annotate", "label.manage", "admin"}
    ),
}


@dataclass(frozen=True)
class Policy:
    """What a route needs: a permission, and where its project comes from.

    ``perm``: ``public`` (no login), ``login`` (any user), or a permission of
    :data:`ROLE_PERMISSIONS`. ``scope``: ``global`` (the user needs it on every project, or on
    one at least with ``any``), ``query`` (``?project=``; without it, on every project), ``run``
    (the ``run_id`` path parameter), ``runs`` (the ``run``/``runs`` query values), ``sweep``
    (``sweep_id``), ``label`` (the labeling project ``name``), ``evaluation`` / ``model`` /
    ``monitor`` (the project of the evaluation ``ref``, model ``name`` or monitored ``model``:
    see :meth:`AuthMiddleware.object_project`), ``handler`` (the route checks each object
    itself, e.g. the backend calls).
    """

    perm: str
    scope: str = "global"


ROUTE_POLICY: dict[tuple[str, str], Policy] = {
    # public: the login page and the static files it needs
    ("GET", "/login"): Policy("public"),
    ("POST", "/login"): Policy("public"),
    ("GET", "/static/{digest}/{name}"): Policy("public"),
    ("GET", "/static/{name}"): Policy("public"),
    ("POST", "/logout"): Policy("login"),
    ("GET", "/api/v1/openapi.json"): Policy("login"),
    ("GET", "/api/v1/whoami"): Policy("login"),
    # Evaluations, models and monitors belong to the project of the run that made them (an
    # evaluation's run; the run of a model's newest version with one; a monitor's model): see
    # object_project. One made by no run belongs to no project: only users with the permission
    # on every project reach it. The lists show only what the user may read (visible()).
    ("GET", "/evaluations"): Policy("runs.read", "any"),
    ("GET", "/evaluations/{ref}"): Policy("runs.read", "evaluation"),
    ("GET", "/evaluations/{ref}/cell"): Policy("runs.read", "evaluation"),
    ("GET", "/evaluations/{ref}/examples/{item_id}"): Policy("runs.read", "evaluation"),
    ("GET", "/evaluations/{ref}/tag"): Policy("runs.read", "evaluation"),
    ("POST", "/evaluations/{ref}/tag"): Policy("runs.write", "evaluation"),
    ("POST", "/evaluations/{ref}/send"): Policy("label.manage", "evaluation"),
    ("GET", "/models"): Policy("runs.read", "any"),
    ("GET", "/models/{name}"): Policy("runs.read", "model"),
    ("GET", "/deployments"): Policy("runs.read", "any"),
    ("GET", "/monitoring"): Policy("runs.read", "any"),
    ("GET", "/monitoring/{model}"): Policy("runs.read", "monitor"),
    ("GET", "/monitoring/{model}/alerts"): Policy("runs.read", "monitor"),
    ("POST", "/monitoring/{model}/alerts/{alert_id}/verdict"): Policy("runs.write", "monitor"),
    ("POST", "/monitoring/{model}/alerts/{alert_id}/label"): Policy("label.manage", "monitor"),
    ("GET", "/monitoring/{model}/prune"): Policy("runs.read", "monitor"),
    ("POST", "/monitoring/{model}/prune"): Policy("runs.write", "monitor"),
    ("POST", "/monitoring/{model}/restore"): Policy("runs.write", "monitor"),
    ("GET", "/api/v1/monitoring/{model}/alerts"): Policy("runs.read", "monitor"),
    ("POST", "/api/v1/monitoring/{model}/alerts/{alert_id}/verdict"): Policy(
        "runs.write", "monitor"
    ),
    ("GET", "/api/v1/monitoring/{model}/values"): Policy("runs.read", "monitor"),
    # pages
    ("GET", "/"): Policy("runs.read", "any"),
    ("GET", "/runs"): Policy("runs.read", "query"),
    ("GET", "/runs/{run_id}"): Policy("runs.read", "run"),
    ("GET", "/compare"): Policy("runs.read", "runs"),
    ("GET", "/sweeps"): Policy("runs.read", "query"),
    ("GET", "/sweeps/{sweep_id}"): Policy("runs.read", "sweep"),
    ("GET", "/labeling"): Policy("label.read", "any"),
    ("GET", "/labeling/{name}"): Policy("label.read", "label"),
    ("GET", "/labeling/{name}/annotate"): Policy("label.annotate", "label"),
    ("POST", "/labeling/{name}/annotate"): Policy("label.annotate", "label"),
    ("GET", "/labeling/{name}/problems"): Policy("label.read", "label"),
    ("GET", "/labeling/{name}/guidelines"): Policy("label.read", "label"),
    ("GET", "/labeling/{name}/review"): Policy("label.read", "label"),
    ("GET", "/labeling/{name}/issues"): Policy("label.read", "label"),
    ("POST", "/labeling/{name}/adjudicate"): Policy("label.manage", "label"),
    ("POST", "/labeling/{name}/consensus"): Policy("label.manage", "label"),
    # JSON API
    ("GET", "/api/v1/projects"): Policy("runs.read", "any"),
    ("GET", "/api/v1/runs"): Policy("runs.read", "query"),
    ("GET", "/api/v1/runs/{run_id}"): Policy("runs.read", "run"),
    ("GET", "/api/v1/columns"): Policy("runs.read", "query"),
    ("GET", "/api/v1/series"): Policy("runs.read", "runs"),
    ("GET", "/api/v1/runs/{run_id}/artifacts"): Policy("runs.read", "run"),
    ("GET", "/api/v1/runs/{run_id}/artifacts/{name:path}"): Policy("runs.read", "run"),
    ("GET", "/api/v1/sweeps"): Policy("runs.read", "query"),
    ("GET", "/api/v1/sweeps/{sweep_id}"): Policy("runs.read", "sweep"),
    # the tracking client's backend calls and artifact uploads
    ("POST", "/api/v1/backend/{method}"): Policy("runs.read", "handler"),
    ("PUT", "/api/v1/uploads/{upload_id}"): Policy("runs.write", "any"),
    # the sweeps and datasets store surfaces (server/_api_stores.py checks each object itself)
    ("POST", "/api/v1/sweeps-store/{method}"): Policy("runs.read", "handler"),
    ("POST", "/api/v1/datasets-store/{method}"): Policy("runs.read", "handler"),
    ("GET", "/api/v1/datasets-store/files/{digest}"): Policy("runs.read", "any"),
    ("POST", "/api/v1/labeling-store/{call}"): Policy("login", "handler"),
    # the MLflow REST subset (server/_mlflow.py checks each experiment and run itself)
    **{
        (method, f"/api/2.0/mlflow/{name}"): Policy("runs.read", "handler")
        for method, names in (
            (
                "POST",
                (
                    "experiments/create",
                    "experiments/search",
                    "runs/create",
                    "runs/update",
                    "runs/delete",
                    "runs/search",
                    "runs/log-metric",
                    "runs/log-parameter",
                    "runs/set-tag",
                    "runs/log-batch",
                    "logged-models/search",
                ),
            ),
            (
                "GET",
                (
                    "experiments/get",
                    "experiments/get-by-name",
                    "experiments/search",
                    "runs/get",
                    "metrics/get-history",
                ),
            ),
        )
        for name in names
    },
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{path:path}"): Policy("runs.read", "handler"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/{path:path}"): Policy("runs.read", "handler"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"): Policy("runs.read", "handler"),
}


def allowed(user: UserRecord, perm: str, project: str | None) -> bool:
    """Whether ``user`` holds ``perm`` on ``project`` (None: on every project)."""
    if perm == "login":
        return True
    roles = [user.roles.get("*")]
    if project is not None:
        roles.append(user.roles.get(project))
    return any(r is not None and perm in ROLE_PERMISSIONS.get(r, ()) for r in roles)


def allowed_anywhere(user: UserRecord, perm: str) -> bool:
    """Whether ``user`` holds ``perm`` on at least one project."""
    return any(perm in ROLE_PERMISSIONS.get(r, ()) for r in user.roles.values())


class RateLimiter:
    """At most ``limit`` login attempts per key in ``window`` seconds, counted in the store.

    The count lives in the store (``store.users.count_attempt``), so every worker of a server
    and every replica over the same database share it: N workers do not allow N times the
    attempts. An attempt is counted before the password is checked (so parallel requests
    cannot all slip under the limit) and taken back when the login succeeds.
    """

    def __init__(self, store: Store, name: str, limit: int = 5, window: float = 300.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a window over 0 seconds")
        self.store = store
        self.name = name
        self.limit = limit
        self.window = window

    def _key(self, key: str) -> str:
        return f"{self.name}|{key}"

    def attempt(self, key: str) -> bool:
        """Count one attempt for ``key``; False if it is over the limit (refuse it)."""
        return self.store.users.count_attempt(self._key(key), self.window) <= self.limit

    def succeeded(self, key: str, reset: bool = False) -> None:
        """Take back ``key``'s attempt (a login that succeeded); ``reset`` forgets them all."""
        self.store.users.forget_attempt(self._key(key), everything=reset)


class _Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AuthMiddleware:
    """The one gate in front of every route (see the module docstring)."""

    def __init__(self, app: Any, fastapi_app: FastAPI, max_body: int) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.max_body = max_body
        self._flat: list[Any] = []
        self._flat_key: tuple[int, int] | None = None

    @property
    def store(self) -> Store:
        store: Store = self.fastapi_app.state.store
        return store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self._handle(scope, receive, send)
        except _Denied as exc:
            await self._deny(scope, send, exc.status, exc.message)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.concurrency import run_in_threadpool

        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        template, params = self._match(scope)
        if template is None:
            await self.app(scope, receive, send)  # 404 or 405, from the app itself
            return
        policy = ROUTE_POLICY.get((method, template))
        if policy is None:
            raise _Denied(403, f"route {method} {template} has no permission policy (refused)")
        body = await self._read_body(scope, receive)
        user: UserRecord | None = None
        csrf: str | None = None
        if policy.perm != "public":
            # One trip to the thread pool for the whole check (each trip costs the event loop).
            admitted, csrf = await run_in_threadpool(
                self._admit, scope, method, policy, params, body
            )
            user = admitted
            if template.endswith("/annotate"):
                body = self._force_annotator(scope, body, admitted.name)
        state = scope.setdefault("state", {})
        state["user"] = user
        state["csrf_token"] = csrf
        status_box = [500]

        async def replay() -> Message:
            nonlocal body
            if body is None:
                return await receive()
            chunk, body = body, None
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
            await send(message)

        await self.app(scope, replay, send_status)
        # A handler that wrote the audit row in its own write's transaction marks it "audited".
        audited = bool(state.get("audited"))
        if method not in _SAFE and policy.perm != "public" and user is not None and not audited:
            detail = state.get("audit_detail")
            await run_in_threadpool(
                self.store.users.audit, user.name, method, scope["path"], status_box[0], detail
            )

    # -- steps ---------------------------------------------------------------------------------
    def _routes(self) -> list[Any]:
        # Flattened once per set of routes (every request matches against them).
        top = self.fastapi_app.router.routes
        key = (id(top), len(top))
        if self._flat_key != key:
            self._flat, self._flat_key = app_routes(self.fastapi_app), key
        return self._flat

    def _match(self, scope: Scope) -> tuple[str | None, dict[str, Any]]:
        from starlette.routing import Match, Mount

        partial: str | None = None
        for route in self._routes():
            match, child = route.matches(scope)
            path = getattr(route, "path", None)
            if match == Match.FULL:
                if isinstance(route, Mount):
                    return route.path, {}
                return path, dict(child.get("path_params", {}))
            if match == Match.PARTIAL and partial is None:
                partial = path
        return None, {}

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return None
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        too_big = f"request body over the server's limit of {self.max_body} bytes"
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise _Denied(413, too_big)
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _Denied(413, too_big)
            parts.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(parts)
        if headers.get(b"content-encoding", b"").lower() == b"gzip":
            body = self._gunzip(body, too_big)
            scope["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k not in (b"content-encoding", b"content-length")
            ] + [(b"content-length", str(len(body)).encode())]
        return body

    def _gunzip(self, body: bytes, too_big: str) -> bytes:
        # Decompress with a cap, so a small bomb cannot expand past the body limit.
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(body, self.max_body + 1)
        except zlib.error:
            raise _Denied(400, "the body is not valid gzip") from None
        if len(out) > self.max_body or d.unconsumed_tail:
            raise _Denied(413, too_big)
        return out

    def _authenticate(self, scope: Scope) -> tuple[UserRecord | None, str | None]:
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth:
            kind, _, secret = auth.partition(" ")
            if kind.lower() != "bearer" or not secret.strip():
                return None, None
            return self.store.users.authenticate_token(secret.strip()), None
        sid = _cookie(headers.get(b"cookie", b"").decode("latin-1"), SESSION_COOKIE)
        if not sid:
            return None, None
        found = self.store.users.session(sid)
        return (None, None) if found is None else found

    def _admit(
        self,
        scope: Scope,
        method: str,
        policy: Policy,
        params: dict[str, Any],
        body: bytes | None,
    ) -> tuple[UserRecord, str | None]:
        """Who is calling (401 if nobody), their CSRF token on a write from a browser session,
        and whether the route's policy lets them (403): the user and that session's token."""
        user, csrf = self._authenticate(scope)
        if user is None:
            raise _Denied(
                401,
                "log in first: send 'Authorization: Bearer <token>' "
                "(loopml server tokens create) or log in at /login",
            )
        if csrf is not None and method not in _SAFE:
            self._check_csrf(scope, body, csrf)
        self._authorize(user, policy, scope, params)
        return user, csrf

    def _check_csrf(self, scope: Scope, body: bytes | None, csrf: str) -> None:
        headers = dict(scope["headers"])
        sent = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1")
        if not sent and body:
            sent = _form_field(
                headers.get(b"content-type", b"").decode("latin-1"), body, CSRF_FIELD
            )
        if not sent or not hmac.compare_digest(sent, csrf):
            raise _Denied(
                403, "missing or wrong CSRF token: reload the page and submit the form again"
            )

    def _authorize(
        self, user: UserRecord, policy: Policy, scope: Scope, params: dict[str, Any]
    ) -> None:
        perm, where = policy.perm, policy.scope
        if perm == "login":
            return
        if not allowed_anywhere(user, perm):  # before any lookup: no hint what exists
            raise _Denied(403, f"user {user.name!r} may not {perm} on any project")
        if where == "handler":
            return  # the route checks each object it touches itself
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        projects: list[str | None]
        if where == "any":
            if allowed_anywhere(user, perm):
                return
            projects = [None]
        elif where == "query":
            projects = [query["project"][0]] if query.get("project") else [None]
        elif where == "run":
            projects = [self.run_project(str(params["run_id"]))]
        elif where == "runs":
            ids = [i for v in query.get("runs", []) + query.get("run", []) for i in v.split(",")]
            projects = [self.run_project(i.strip()) for i in ids if i.strip()] or [None]
        elif where == "sweep":
            try:
                projects = [self.store.sweeps.get(str(params["sweep_id"])).project]
            except NotFoundError as exc:
                raise _Denied(404, str(exc)) from None
        elif where == "label":
            projects = [str(params["name"])]
        elif where in ("evaluation", "model", "monitor"):
            projects = [self.object_project(where, params)]
        else:
            projects = [None]
        for project in projects:
            if not allowed(user, perm, project):
                what = "every project" if project is None else f"project {project!r}"
                hint = " (name one with ?project=)" if where == "query" and project is None else ""
                raise _Denied(403, f"user {user.name!r} may not {perm} on {what}{hint}")

    def object_project(self, where: str, params: dict[str, Any]) -> str | None:
        """The project of the evaluation, model or monitor a route names (None: no project);
        an unknown one, or an alert of another model, is a 404."""
        try:
            if where == "evaluation":
                return evaluation_project(self.fastapi_app, str(params["ref"]))
            if where == "model":
                return model_project(self.fastapi_app, str(params["name"]))
            model = str(params["model"])
            if "alert_id" in params:
                try:
                    alert_id = int(params["alert_id"])
                except ValueError:
                    raise NotFoundError(f"no alert {params['alert_id']!r}") from None
                if self.store.monitors.alert(alert_id).model != model:
                    raise NotFoundError(f"alert {alert_id} is not an alert of model {model!r}")
            return model_project(self.fastapi_app, model)
        except (NotFoundError, ValidationError) as exc:
            raise _Denied(404, str(exc)) from None

    def run_project(self, run_id: str) -> str:
        """The project of a run (by id or unique prefix); an unknown run is a 404."""
        try:
            return run_project(self.fastapi_app, run_id)
        except NotFoundError as exc:
            raise _Denied(404, str(exc)) from None

    @staticmethod
    def _force_annotator(scope: Scope, body: bytes | None, name: str) -> bytes | None:
        # The annotator is whoever is logged in, never what the query string or form says.
        query = urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        query = [(k, v) for k, v in query if k != "annotator"] + [("annotator", name)]
        scope["query_string"] = urllib.parse.urlencode(query).encode()
        if body is not None:
            fields = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            fields = [(k, v) for k, v in fields if k != "annotator"] + [("annotator", name)]
            body = urllib.parse.urlencode(fields).encode()
            scope["headers"] = [
                (k, v) for k, v in scope["headers"] if k not in (b"content-length", b"content-type")
            ] + [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/x-www-form-urlencoded"),
            ]
        return body

    async def _deny(self, scope: Scope, send: Send, status: int, message: str) -> None:
        from starlette.responses import HTMLResponse, JSONResponse

        path = scope.get("path", "")
        response: Any
        if path.startswith("/api/"):
            response = JSONResponse({"error": message, "type": "AuthError"}, status_code=status)
        elif status == 401:
            target = urllib.parse.quote(
                path
                + (
                    "?" + scope["query_string"].decode("latin-1")
                    if scope.get("query_string")
                    else ""
                )
            )
            response = HTMLResponse(
                f'<!doctype html><meta charset="utf-8"><title>Log in</title>'
                f'<p>Log in to see this page: <a href="/login?next={target}">log in</a></p>',
                status_code=401,
            )
        else:
            from html import escape

            response = HTMLResponse(
                f'<!doctype html><meta charset="utf-8"><title>{status}</title><p>{escape(message)}</p>',
                status_code=status,
            )

        async def empty() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, empty, send)


def _cookie(header: str, name: str) -> str | None:
    from http.cookies import CookieError, SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


_MULTIPART_FIELD = re.compile(rb'name="([^"]+)"\r\n(?:[^\r\n]*\r\n)*\r\n(.*?)\r\n--', re.S)


def _form_field(content_type: str, body: bytes, name: str) -> str:
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get(name)
        return values[0] if values else ""
    if content_type.startswith("multipart/form-data"):
        for key, value in _MULTIPART_FIELD.findall(body):
            if key.decode() == name:
                return value.decode("utf-8", "replace")
    if content_type.startswith("application/json"):
        try:
            value = json.loads(body).get(name)
        except (ValueError, AttributeError):
            return ""
        return value if isinstance(value, str) else ""
    return ""


def app_routes(app: Any) -> list[Any]:
    """The app's routes in matching order, with included routers expanded (FastAPI may keep
    an included router as one entry)."""

    def flat(routes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for route in routes:
            inner = getattr(route, "original_router", None)
            out += flat(inner.routes) if inner is not None else [route]
        return out

    return flat(list(app.router.routes))


def run_project(app: Any, run_id: str) -> str:
    """The project of a run by id or unique prefix (cached: a run never changes project)."""
    cache: dict[str, str] = app.state.run_projects
    cached = cache.get(run_id)
    if cached is None:
        cached = app.state.store.runs.project_of(run_id)  # NotFoundError when there is none
        remember_run_project(app, run_id, cached)
    return cached


def remember_run_project(app: Any, run_id: str, project: str) -> None:
    """Cache a run's project (known when its first segment, which creates it, is stored)."""
    cache: dict[str, str] = app.state.run_projects
    if len(cache) > 100_000:
        cache.clear()
    cache[run_id] = project


def _project_of_run(app: Any, run_id: str | None) -> str | None:
    if not run_id:
        return None
    try:
        return run_project(app, run_id)
    except NotFoundError:  # the run was deleted: the object belongs to no project now
        return None


def evaluation_project(app: Any, ref: str) -> str | None:
    """The project of an evaluation: its run's (None without one); NotFoundError if unknown."""
    store = app.state.store
    return _project_of_run(app, store.evaluations.get(ref).run_id)


def model_project(app: Any, name: str) -> str | None:
    """The project of a registered model: that of the run of its newest version made by a run
    (None when no version was, or the model is not registered, e.g. a monitor of an outside
    model)."""
    try:
        versions = app.state.store.models.versions(name)
    except NotFoundError:
        return None
    for v in reversed(versions):
        project = _project_of_run(app, v.run_id)
        if project is not None:
            return project
    return None


def can_see(request: Any, *, run_id: str | None = None, model: str | None = None) -> bool:
    """Whether the request's user may read an object made by run ``run_id`` (an evaluation) or
    model ``model`` (its versions, deployment, monitor), for the lists. Always in the
    single-user ``loopml ui``, which has no users."""
    user = getattr(request.state, "user", None)
    if user is None:
        return True
    app = request.app
    project = model_project(app, model) if model is not None else _project_of_run(app, run_id)
    return allowed(user, "runs.read", project)
