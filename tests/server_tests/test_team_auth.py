"""The team server's gate: every route against every role and no login, then each attack."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopml._config import Settings
from loopml.server import create_team_app
from loopml.server._auth import ROUTE_POLICY, Policy, allowed, allowed_anywhere, app_routes
from loopml.store import Batch, Store

ROLES = ("annotator", "viewer", "member", "maintainer", "admin")
BASE = "http://127.0.0.1"


class Team:
    def __init__(self, store: Store, tmp: Path) -> None:
        self.store = store
        self.app = create_team_app(store, max_body=64 * 1024)
        self.tokens: dict[str, str] = {}
        for role in ROLES:
            # argon2 is slow on purpose: only the users who log in by form get a password
            password = f"pw-{role}-long" if role in ("viewer", "maintainer") else None
            store.users.add(f"u-{role}", role, "p", password=password)
            self.tokens[role] = store.users.create_token(f"u-{role}")
        store.users.add("root", "admin")
        self.tokens["root"] = store.users.create_token("root")
        for rid, project in (("prun0000aaaa0001", "p"), ("qrun0000bbbb0002", "q")):
            store.runs.create(rid, project, f"run-{project}", {}, {}, {}, journal_id=f"j-{rid}")
            store.runs.ingest(f"j-{rid}", rid, Batch(points=[(0, 1.0, "acc", 0.5)]), 0, 10)
            src = tmp / f"model-{project}.txt"
            src.write_text(f"secret of {project}")
            store.runs.copy_artifacts(rid, src, "model.txt")
        self.p_run, self.q_run = "prun0000aaaa0001", "qrun0000bbbb0002"
        # An evaluation, a model and a monitor made by each project's run: they belong to it.
        self.evals = {
            p: _evaluation(store, rid) for p, rid in (("p", self.p_run), ("q", self.q_run))
        }
        for project, rid in (("p", self.p_run), ("q", self.q_run)):
            _model(store, f"m{project}", rid, tmp)
            store.monitors.save_monitor(f"m{project}", {"window_seconds": 3600})

    def client(self, role: str | None = None) -> TestClient:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return TestClient(self.app, base_url=BASE, headers=headers, follow_redirects=False)


def _evaluation(store: Store, run_id: str) -> str:
    import pandas as pd

    from loopml.analysis import evaluate
    from loopml.datasets import create

    data = pd.DataFrame({"id": ["a", "b", run_id], "x": [1, 2, 3], "label": ["0", "1", "0"]})
    version = create(f"d-{run_id[:4]}", data, split={"test": 1.0}, store=store)
    preds = pd.DataFrame({"id": ["a", "b", run_id], "prediction": ["0", "0", "0"]})
    ev = evaluate(preds, version, run=run_id, log_to_run=False, store=store)
    return ev.id


def _model(store: Store, name: str, run_id: str | None, tmp: Path) -> None:
    src = store.data_dir / f"{name}.staging"
    src.write_bytes(b"not a real model: only the registry rows matter here")
    store.models.add_version(
        name,
        src,
        flavor="sklearn",
        suffix=".skops",
        task="classifier",
        signature_json=None,
        classes=None,
        trusted_types=[],
        run_id=run_id,
        description=None,
        created_by=None,
    )


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    store = Store(Settings(data_dir=tmp_path / "server-data"))
    yield Team(store, tmp_path)
    store.close()


def _routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves: what the policy table must cover."""
    out = []
    for route in app_routes(app):
        methods = getattr(route, "methods", None) or {"GET"}  # a Mount serves GET
        for m in sorted(methods - {"HEAD"}):
            out.append((m, route.path))
    return out


def _request(team: Team, method: str, path: str, policy: Policy) -> tuple[str, dict[str, Any]]:
    if path.startswith("/models/"):
        path = path.replace("{name}", "mp")
    url = (
        path.replace("{run_id}", team.p_run)
        .replace("{ref}", team.evals["p"])
        .replace("{model}", "mp")
        .replace("{sweep_id}", "nosweep")
        .replace("{name:path}", "model.txt")
        .replace("{name}", "p")
        .replace("{method}", "status")
        .replace("{upload_id}", "0" * 32)
    )
    if url == "/static":
        url = "/static/app.css"
    params: dict[str, Any] = {}
    if policy.scope == "query":
        params["project"] = "p"
    if policy.scope == "runs":
        params.update(run=team.p_run, runs=team.p_run, key="acc")
    kw: dict[str, Any] = {"params": params}
    if method == "POST" and "backend" in path:
        kw["json"] = {"run_id": team.p_run}
    elif method in ("POST", "PUT"):
        kw["content"] = b"x"
    return url, kw


def _may(role: str, policy: Policy) -> bool:
    from loopml.store import UserRecord

    user = UserRecord(1, "x", {"p": role}, False)
    if policy.perm in ("public", "login"):
        return True
    if policy.scope in ("any", "handler"):
        return allowed_anywhere(user, policy.perm)
    return allowed(user, policy.perm, "p")


def test_every_route_has_a_policy(team: Team) -> None:
    routes = _routes(team.app)
    missing = [r for r in routes if r not in ROUTE_POLICY]
    assert not missing, f"routes without a permission policy in server/_auth.py: {missing}"
    stale = set(ROUTE_POLICY) - set(routes)
    assert not stale, f"policies for routes that no longer exist: {stale}"


def test_every_route_against_every_role_and_no_login(team: Team) -> None:
    checked = 0
    for method, path in _routes(team.app):
        policy = ROUTE_POLICY[(method, path)]
        url, kw = _request(team, method, path, policy)
        anonymous = team.client().request(method, url, **kw)
        if policy.perm == "public":  # (a login form without its CSRF cookie is a 403 of its own)
            assert anonymous.status_code != 401, (method, path)
        else:
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        for role in ROLES:
            got = team.client(role).request(method, url, **kw).status_code
            if policy.perm == "public":
                assert got != 401, (role, method, path, got)
            elif _may(role, policy):
                assert got not in (401, 403), (role, method, path, got)
            else:
                assert got == 403, (role, method, path, got)
            checked += 1
    assert checked >= 5 * 30


def test_evaluations_models_and_monitors_belong_to_their_runs_project(team: Team) -> None:
    viewer = team.client("viewer")  # a viewer of project p only
    p_eval, q_eval = team.evals["p"], team.evals["q"]
    assert viewer.get(f"/evaluations/{p_eval}").status_code == 200
    assert viewer.get(f"/evaluations/{q_eval}").status_code == 403
    assert viewer.get(f"/evaluations/{q_eval[:8]}/tag").status_code == 403  # by prefix too
    assert viewer.get("/models/mp").status_code == 200
    assert viewer.get("/models/mq").status_code == 403
    assert viewer.get("/monitoring/mp").status_code == 200
    assert viewer.get("/monitoring/mq").status_code == 403
    assert viewer.get("/api/v1/monitoring/mq/alerts").status_code == 403
    # the lists show only what the user may read
    listed = viewer.get("/evaluations").text
    assert p_eval[:8] in listed and q_eval[:8] not in listed
    models = viewer.get("/models").text
    assert 'href="/models/mp"' in models and 'href="/models/mq"' not in models
    monitors = viewer.get("/monitoring").text
    assert "/monitoring/mp" in monitors and "/monitoring/mq" not in monitors
    # a member of p writes p's evaluations, never q's
    member = team.client("member")
    tag = {"name": "blurry", "items": "a"}
    assert member.post(f"/evaluations/{q_eval}/tag", data=tag).status_code == 403
    assert viewer.post(f"/evaluations/{p_eval}/tag", data=tag).status_code == 403
    assert member.post("/monitoring/mq/prune", data={}).status_code == 403
    # an alert is reached only under its own model; unknown objects are 404
    assert member.post("/monitoring/mp/alerts/999/verdict", data={}).status_code == 404
    assert viewer.get("/evaluations/ffffffff").status_code == 404
    # an object no run made belongs to no project: only every-project users reach it
    _model(team.store, "orphan", None, team.store.data_dir)
    assert viewer.get("/models/orphan").status_code == 403
    assert team.client("root").get("/models/orphan").status_code == 200
    # a model whose run was deleted falls back the same way
    team.store.runs.delete([team.q_run])
    team.app.state.run_projects.clear()
    assert viewer.get("/models/mq").status_code == 403
    assert team.client("root").get("/models/mq").status_code == 200


def test_runs_api_answers_401_without_login(team: Team) -> None:
    r = team.client().get("/api/v1/runs")
    assert r.status_code == 401 and "log in" in r.json()["error"]
    html = team.client().get("/runs")
    assert html.status_code == 401 and "/login?next=" in html.text


def test_other_projects_are_refused(team: Team) -> None:
    viewer = team.client("viewer")  # a viewer of project p only
    assert viewer.get(f"/api/v1/runs/{team.p_run}").status_code == 200
    assert viewer.get(f"/api/v1/runs/{team.q_run}").status_code == 403
    assert viewer.get(f"/api/v1/runs/{team.q_run}/artifacts").status_code == 403
    assert viewer.get(f"/api/v1/runs/{team.q_run}/artifacts/model.txt").status_code == 403
    assert viewer.get("/api/v1/runs", params={"project": "q"}).status_code == 403
    assert viewer.get("/api/v1/runs").status_code == 403  # every project: name one
    assert viewer.get("/compare", params={"runs": f"{team.p_run},{team.q_run}"}).status_code == 403
    assert viewer.get("/labeling/q").status_code == 403
    backend = viewer.post("/api/v1/backend/get", json={"run_id": team.q_run})
    assert backend.status_code == 403
    search = viewer.post("/api/v1/backend/search", json={"project": "q", "offset": 0})
    assert search.status_code == 403
    many = viewer.post("/api/v1/backend/get_many", json={"ids": [team.p_run, team.q_run]})
    assert [r["id"] for r in many.json()["result"]] == [team.p_run]
    # a viewer reads but never writes
    write = viewer.post(
        "/api/v1/backend/set_status", json={"run_id": team.p_run, "status": "killed"}
    )
    assert write.status_code == 403 and team.store.runs.status(team.p_run) == "running"
    member = team.client("member")
    deleted = member.post("/api/v1/backend/delete", json={"ids": [team.p_run]})
    assert deleted.status_code == 403  # deleting needs maintainer
    assert (
        team.client("maintainer")
        .post("/api/v1/backend/delete", json={"ids": [team.q_run]})
        .status_code
        == 403
    )


def test_journal_records_are_written_only_where_the_user_may_write(team: Team) -> None:
    from loopml.tracking._journal_records import metrics_record, run_record

    member = team.client("member")  # a member of project p only

    def send(run_id: str, records: bytes, start: int = 0) -> Any:
        head = json.dumps(
            {"journal_id": f"jr-{run_id}", "run_id": run_id, "start": start,
             "end": start + len(records), "final": None, "close": False}
        ).encode()  # fmt: skip
        return member.post(
            "/api/v1/backend/ingest_records",
            content=head + b"\n" + records,
            headers={"Content-Type": "application/x-loopml-records"},
        )

    point = metrics_record(5, 1_700_000_000_000_000, "\tacc\t0.25")
    assert send(team.q_run, point).status_code == 403  # another project's run
    spec = {"name": "n", "created_at": 1.0, "attributes": {}, "params": {}, "tags": {}}
    new_q = run_record({**spec, "project": "q"}) + point
    assert send("newrun00000000q1", new_q).status_code == 403  # creating one there
    assert team.store.runs.status("newrun00000000q1") is None
    new_p = run_record({**spec, "project": "p"})
    assert send("newrun00000000p1", new_p).json() == {"result": True}
    team.store.runs.create("newrun00000000p2", "p", "other", {}, {}, {})
    assert send("newrun00000000p1", point, len(new_p)).json() == {"result": True}
    assert team.store.runs.get("newrun00000000p1").metrics["acc"].count == 1
    # Permissions by run id prefix are looked up as by the full id.
    assert team.store.runs.project_of(team.p_run) == "p"
    assert team.store.runs.project_of(team.q_run[:8]) == "q"
    from loopml import NotFoundError, ValidationError

    with pytest.raises(NotFoundError):
        team.store.runs.project_of("nosuchrun0000000")
    with pytest.raises(ValidationError, match="ambiguous"):
        team.store.runs.project_of("newrun00")  # two runs start so
    with pytest.raises(ValidationError):
        team.store.runs.project_of("")
    viewer = team.client("viewer")
    assert viewer.get(f"/api/v1/runs/{team.q_run[:8]}").status_code == 403
    assert viewer.get(f"/api/v1/runs/{team.p_run[:8]}").status_code == 200


def test_revoked_token_fails_at_once(team: Team) -> None:
    token = team.store.users.create_token("u-viewer", "laptop")
    c = TestClient(team.app, base_url=BASE, headers={"Authorization": f"Bearer {token}"})
    assert c.get("/api/v1/whoami").json()["name"] == "u-viewer"
    (info,) = [t for t in team.store.users.tokens() if t.name == "laptop"]
    team.store.users.revoke_token(info.id)
    assert c.get("/api/v1/whoami").status_code == 401
    assert (
        TestClient(team.app, base_url=BASE, headers={"Authorization": "Bearer nope"})
        .get("/api/v1/whoami")
        .status_code
        == 401
    )
    assert (
        TestClient(team.app, base_url=BASE, headers={"Authorization": "Basic abc"})
        .get("/api/v1/whoami")
        .status_code
        == 401
    )


def _login(team: Team, name: str, password: str) -> tuple[TestClient, str]:
    c = TestClient(team.app, base_url=BASE, follow_redirects=False)
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"name": name, "password": password, "csrf_token": token})
    return c, r.headers.get("location", str(r.status_code))


def test_login_sets_httponly_samesite_cookie_and_forms_need_csrf(team: Team) -> None:
    c, where = _login(team, "u-maintainer", "pw-maintainer-long")
    assert where == "/"
    cookie = next(h for k, h in c.cookies.jar._cookies.items())  # type: ignore[attr-defined]
    assert cookie
    raw = [v for k, v in c.get("/login").headers.items() if k == "set-cookie"]
    assert raw  # the login page sets its own CSRF cookie
    page = c.get("/runs", params={"project": "p"})
    assert page.status_code == 200 and "csrf_token" in page.text
    csrf = re.search(r"i\.value = \"([^\"]+)\"", page.text).group(1)  # type: ignore[union-attr]
    # a cookie-authenticated form without the token, or with a wrong one, is refused
    assert c.post("/labeling/p/consensus").status_code == 403
    assert c.post("/labeling/p/consensus", data={"csrf_token": "forged"}).status_code == 403
    ok = c.post("/labeling/p/consensus", data={"csrf_token": csrf})
    assert ok.status_code not in (401, 403)
    assert c.post("/labeling/p/consensus", headers={"X-CSRF-Token": csrf}).status_code != 403
    # the login form itself needs its CSRF cookie and field
    bare = TestClient(team.app, base_url=BASE, follow_redirects=False)
    r = bare.post("/login", data={"name": "u-viewer", "password": "pw-viewer-long"})
    assert r.status_code == 403
    # logging out ends the session on the server
    assert c.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert c.get("/runs", params={"project": "p"}).status_code == 401


def test_session_cookie_flags(team: Team) -> None:
    c = TestClient(team.app, base_url=BASE, follow_redirects=False)
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = c.post(
        "/login",
        data={
            "name": "u-viewer",
            "password": "pw-viewer-long",
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    cookie = next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and "loopml_session" in v
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie


def test_login_is_rate_limited_and_audited(team: Team) -> None:
    for _ in range(5):
        _, status = _login(team, "u-viewer", "wrong-password")
        assert status == "401"
    _, status = _login(team, "u-viewer", "pw-viewer-long")
    assert status == "429"  # even the right password, until the window passes
    log = team.store.users.audit_log(20)
    assert any(e.detail == "failed login" and e.user == "u-viewer" for e in log)
    assert any(e.status == 429 for e in log)


def test_every_write_is_audited(team: Team) -> None:
    root = team.client("root")
    r = root.post("/api/v1/backend/set_status", json={"run_id": team.q_run, "status": "finished"})
    assert r.status_code == 200
    entry = team.store.users.audit_log(1)[0]
    assert (entry.user, entry.method, entry.path, entry.status, entry.detail) == (
        "root",
        "POST",
        "/api/v1/backend/set_status",
        200,
        "set_status",
    )


def test_every_upload_is_audited_once_with_its_answer(team: Team) -> None:
    """An upload's audit row is written in the ingest's transaction: one row per call, also for
    a repeat (stored already) and for a refused one (rolled back, then audited as any write)."""
    from loopml.tracking._journal_records import metrics_record, run_record

    root = team.client("root")

    def send(records: bytes, start: int) -> Any:
        head = json.dumps(
            {"journal_id": "jr-audit", "run_id": "auditrun0000001", "start": start,
             "end": start + len(records), "final": None, "close": False}
        ).encode()  # fmt: skip
        return root.post(
            "/api/v1/backend/ingest_records",
            content=head + b"\n" + records,
            headers={"Content-Type": "application/x-loopml-records"},
        )

    spec = {"name": "n", "created_at": 1.0, "attributes": {}, "params": {}, "tags": {}}
    first = run_record({**spec, "project": "p"})
    point = metrics_record(5, 1_700_000_000_000_000, "\tacc\t0.25")
    before = len(team.store.users.audit_log(10_000))
    assert send(first, 0).json() == {"result": True}
    assert send(first, 0).json() == {"result": False}  # a retry: stored already
    assert send(point, len(first) + 7).status_code == 409  # out of step: refused
    log = team.store.users.audit_log(10_000)
    assert len(log) == before + 3
    assert [(e.user, e.method, e.path, e.status, e.detail) for e in log[:3]] == [
        ("root", "POST", "/api/v1/backend/ingest_records", 409, "ingest_records"),
        ("root", "POST", "/api/v1/backend/ingest_records", 200, "ingest_records"),
        ("root", "POST", "/api/v1/backend/ingest_records", 200, "ingest_records"),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "%2E%2E/%2E%2E/etc/passwd",
        "..%5C..%5Cetc%5Cpasswd",
        "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "model.txt%00.png",
        "link/secret.txt",
    ],
)
def test_artifact_path_traversal_is_refused(team: Team, name: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET")
    run_dir = team.store.artifacts_dir / team.p_run
    if not (run_dir / "link").exists():
        os.symlink(outside, run_dir / "link")
    r = team.client("root").get(f"/api/v1/runs/{team.p_run}/artifacts/{name}")
    assert r.status_code in (400, 404), (name, r.status_code)
    assert "TOP SECRET" not in r.text and "root:" not in r.text


def test_uploaded_artifact_names_are_checked(team: Team) -> None:
    root = team.client("root")
    upload = "a" * 32
    assert root.put(f"/api/v1/uploads/{upload}", params={"offset": 0}, content=b"data").json() == {
        "result": {"size": 4}
    }
    for bad in ("../escape.txt", "/abs.txt", "a/../../b"):
        r = root.post(
            "/api/v1/backend/copy_artifacts",
            json={
                "run_id": team.p_run,
                "name": bad,
                "is_dir": False,
                "files": [{"upload": upload, "path": ""}],
            },
        )
        assert r.status_code == 400, bad
    bad_id = root.put("/api/v1/uploads/..%2F..%2Fx", content=b"x")
    assert bad_id.status_code in (400, 404)


def test_oversize_bodies_get_413(team: Team) -> None:
    root = team.client("root")
    big = json.dumps({"run_id": team.p_run, "pad": "x" * 70_000}).encode()
    r = root.post(
        "/api/v1/backend/status", content=big, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    bomb = gzip.compress(b"{" + b" " * 10_000_000 + b"}")
    assert len(bomb) < 64 * 1024
    r = root.post(
        "/api/v1/backend/status",
        content=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 413
    # a compressed body within the limit works
    ok = root.post(
        "/api/v1/backend/status",
        content=gzip.compress(json.dumps({"run_id": team.p_run}).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert ok.json() == {"result": "running"}


def test_foreign_host_header_is_refused(team: Team) -> None:
    c = TestClient(
        team.app,
        base_url="http://evil.example",
        headers={"Authorization": f"Bearer {team.tokens['root']}"},
    )
    assert c.get("/api/v1/runs").status_code == 400
    ok = TestClient(
        team.app,
        base_url="http://localhost",
        headers={"Authorization": f"Bearer {team.tokens['root']}"},
    )
    assert ok.get("/api/v1/runs").status_code == 200


def test_users_and_tokens_validate_input(team: Team) -> None:
    from loopml import ConflictError, NotFoundError, ValidationError

    with pytest.raises(
        ValidationError, match="unknown role 'admn'; use one of .*did you mean 'admin'"
    ):
        team.store.users.add("bob", "admn")
    with pytest.raises(ConflictError, match="exists already"):
        team.store.users.add("root", "viewer")
    with pytest.raises(ValidationError, match="at least 8"):
        team.store.users.add("carol", "viewer", password="short")
    with pytest.raises(NotFoundError, match="did you mean 'root'"):
        team.store.users.create_token("rooot")
    secret = team.store.users.create_token("root")
    assert all(secret not in (t.prefix + "x") for t in team.store.users.tokens())
    from sqlalchemy import text

    with team.store.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT digest FROM api_tokens"))]
        hashes = [r[0] for r in conn.execute(text("SELECT password_hash FROM users"))]
    assert secret not in stored and all(h.startswith("$argon2") for h in hashes if h)


def test_the_annotate_page_takes_the_annotator_from_the_session(team: Team) -> None:
    import pandas as pd

    from loopml.datasets import create
    from loopml.labeling import create_project

    frame = pd.DataFrame({"id": [f"it{i}" for i in range(4)], "text": ["a", "b", "c", "d"]})
    version = create("animals", frame, store=team.store)
    labels = create_project("p", version, ["cat", "dog"], overlap=1, store=team.store)
    labels.publish_guidelines("# Animals", note="v1")
    labels.add_annotators(["u-annotator", "bob"])
    labels.assign(["u-annotator", "bob"], overlap=2)
    ann = team.client("annotator")
    page = ann.get("/labeling/p/annotate", params={"annotator": "bob"})
    assert page.status_code == 200
    assert "u-annotator" in page.text
    assert 'name="annotator" value="u-annotator"' in page.text
    item = re.search(r'name="item_id" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
    assert item, "the annotator has an item to label"
    posted = ann.post(
        "/labeling/p/annotate",
        data={"annotator": "bob", "action": "label", "item_id": item, "label": "cat"},
    )
    assert posted.status_code == 303
    assert "annotator=u-annotator" in posted.headers["location"]
    assert labels.queue_counts("u-annotator")["done"] == 1
    assert labels.queue_counts("bob")["done"] == 0


def test_an_annotator_logs_in_and_labels_through_the_pages(team: Team) -> None:
    import pandas as pd

    from loopml.datasets import create
    from loopml.labeling import create_project

    team.store.users.add("ann", "annotator", "p", password="pw-ann-long-enough")
    frame = pd.DataFrame({"id": ["x1", "x2"], "text": ["a", "b"]})
    labels = create_project(
        "p", create("pets", frame, store=team.store), ["cat", "dog"], store=team.store
    )
    labels.publish_guidelines("# Pets", note="v1")
    labels.add_annotators(["ann", "bob"])
    labels.assign(["ann", "bob"], overlap=2)
    c, where = _login(team, "ann", "pw-ann-long-enough")
    assert where == "/"
    page = c.get("/labeling/p/annotate", params={"annotator": "bob"})  # asks to be bob
    assert page.status_code == 200 and 'name="annotator" value="ann"' in page.text
    csrf = re.search(r"i\.value = \"([^\"]+)\"", page.text)  # added to every form
    assert csrf is not None, "the annotate page carries its CSRF token"
    item = re.search(r'name="item_id" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
    form = {"annotator": "bob", "action": "label", "item_id": item, "label": "dog"}
    assert c.post("/labeling/p/annotate", data=form).status_code == 403  # no CSRF token
    posted = c.post("/labeling/p/annotate", data={**form, "csrf_token": csrf.group(1)})
    assert posted.status_code == 303
    assert labels.queue_counts("ann")["done"] == 1 and labels.queue_counts("bob")["done"] == 0
    assert [a["annotator"] for a in labels.item_annotations(item)] == ["ann"]
    # an annotator reads no runs and manages nothing
    assert c.get("/runs", params={"project": "p"}).status_code == 403
    assert c.post("/labeling/p/consensus", data={"csrf_token": csrf.group(1)}).status_code == 403


def test_uploads_resume_where_the_server_stopped(team: Team) -> None:
    root = team.client("root")
    upload = "b" * 32
    put = lambda offset, body: root.put(  # noqa: E731
        f"/api/v1/uploads/{upload}", params={"offset": offset}, content=body
    ).json()["result"]["size"]
    assert put(0, b"abcd") == 4
    assert put(0, b"abcd") == 4  # a retried chunk is not appended twice
    assert put(9, b"zz") == 4  # a gap: the answer says where to resume
    assert put(4, b"efgh") == 8
    r = root.post(
        "/api/v1/backend/copy_artifacts",
        json={
            "run_id": team.p_run,
            "name": "joined.bin",
            "is_dir": False,
            "files": [{"upload": upload, "path": ""}],
        },
    )
    assert r.status_code == 200, r.text
    assert team.store.runs.artifact_file(team.p_run, "joined.bin").read_bytes() == b"abcdefgh"


def test_login_attempts_are_counted_in_the_store(team: Team) -> None:
    from loopml._errors import ValidationError
    from loopml.server._auth import RateLimiter

    users = team.store.users
    assert [users.count_attempt("k", 300.0) for _ in range(3)] == [1, 2, 3]
    users.forget_attempt("k")  # a success takes its attempt back
    assert users.count_attempt("k", 300.0) == 3
    users.forget_attempt("k", everything=True)
    assert users.count_attempt("k", 300.0) == 1
    assert users.count_attempt("other", 300.0) == 1  # keys are counted apart
    # a window that has passed starts over
    users.count_attempt("short", 1e-6)
    import time

    time.sleep(0.01)
    assert users.count_attempt("short", 1e-6) == 1
    with pytest.raises(ValidationError, match="window"):
        users.count_attempt("k", 0)
    # two limiters on one store (two workers) share one count
    a, b = RateLimiter(team.store, "t", limit=3), RateLimiter(team.store, "t", limit=3)
    assert [a.attempt("x"), b.attempt("x"), a.attempt("x"), b.attempt("x")] == [
        True,
        True,
        True,
        False,
    ]
    with pytest.raises(ValueError, match="limit"):
        RateLimiter(team.store, "t", limit=0)
