"""The team server's login page, logout and ``whoami`` (routes of ``create_team_app`` only).

The login form is protected by its own CSRF cookie (there is no session yet); a success sets
the session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and redirects to a local path
only. Failed logins are rate-limited per user name and address, and audited.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from loopml.store import Store

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_LOGIN_CSRF_COOKIE = "loopml_login_csrf"


def _safe_next(target: str | None) -> str:
    # Only a path on this server: never an absolute URL or //host (an open redirect).
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def _login_page(request: Request, next: str = "/", error: str | None = None) -> Response:
    from loopml.server._deps import render

    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "title": "Log in",
            "login_csrf": token,
            "next_url": _safe_next(next),
            "name": "",
            "error": error,
        },
        401 if error else 200,
    )
    response.set_cookie(
        _LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_https(request)
    )
    return response


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


@router.post("/login")
async def _login(request: Request) -> Response:
    import hmac
    from urllib.parse import parse_qsl

    from fastapi.responses import RedirectResponse
    from starlette.concurrency import run_in_threadpool

    from loopml.server._auth import SESSION_COOKIE
    from loopml.server._deps import render

    # URL-encoded and parsed here, so no multipart library is needed (as in the labeling forms).
    form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
    name = str(form.get("name", ""))
    password = str(form.get("password", ""))
    sent = str(form.get("csrf_token", ""))
    expected = request.cookies.get(_LOGIN_CSRF_COOKIE, "")
    store: Store = request.app.state.store
    limiter = request.app.state.login_limiter
    by_address = request.app.state.address_limiter
    client = request.client.host if request.client else "?"
    key = f"{client}|{name}"

    def fail(message: str, status: int) -> Response:
        token = secrets.token_urlsafe(24)
        ctx = {
            "title": "Log in",
            "login_csrf": token,
            "next_url": _safe_next(str(form.get("next", "/"))),
            "name": name,
            "error": message,
        }
        response = render(request, "login.html", ctx, status)
        response.set_cookie(
            _LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_https(request)
        )
        return response

    if not expected or not hmac.compare_digest(sent, expected):
        return fail("The form expired; log in again.", 403)
    # Counted in the store before the password is checked: shared by every worker and
    # replica, and parallel attempts cannot all pass a check made before any of them failed.
    by_user_ok = await run_in_threadpool(limiter.attempt, key)
    by_address_ok = await run_in_threadpool(by_address.attempt, client)
    if not (by_user_ok and by_address_ok):
        await run_in_threadpool(store.users.audit, name, "POST", "/login", 429, "rate-limited")
        return fail("Too many failed logins; wait a few minutes and try again.", 429)
    user = await run_in_threadpool(store.users.verify_password, name, password)
    if user is None:
        await run_in_threadpool(store.users.audit, name, "POST", "/login", 401, "failed login")
        return fail("Wrong user name or password.", 401)
    await run_in_threadpool(limiter.succeeded, key, True)
    await run_in_threadpool(by_address.succeeded, client)
    sid, _csrf = await run_in_threadpool(store.users.create_session, user)
    await run_in_threadpool(store.users.audit, name, "POST", "/login", 303, "login")
    response = RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, sid, httponly=True, samesite="lax", secure=_https(request), path="/"
    )
    response.delete_cookie(_LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def _logout(request: Request) -> Response:
    from fastapi.responses import RedirectResponse

    from loopml.server._auth import SESSION_COOKIE

    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        request.app.state.store.users.end_session(sid)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/v1/whoami")
def _whoami(request: Request) -> dict[str, Any]:
    user = request.state.user
    return {"name": user.name, "roles": user.roles}
