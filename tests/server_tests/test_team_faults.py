"""The team server under faults: SIGKILLed mid-upload of 8 clients; two workers on one store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from loopml._config import Settings
from loopml.store import Store

REPO = Path(__file__).resolve().parents[2]
CHILD = REPO / "tests" / "tracking_tests" / "_remote_child.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(url: str, folder: Path, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-c",
        "from loopml.cli import main; main()",
        "server",
        "--store",
        url,
        "--artifacts",
        str(folder),
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(
        cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("the server did not start")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the server and its workers, nothing else
        proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_schema_url"))
    return f"sqlite:///{tmp_path / 'server' / 'loopml.db'}"


def _token(url: str, folder: Path) -> str:
    store = Store(Settings(data_dir=folder, store_url=url))
    store.users.add("ci", "member")
    token = store.users.create_token("ci")
    store.close()
    return token


@pytest.mark.slow
def test_sigkill_server_mid_upload_of_8_clients_stores_each_point_once(
    tmp_path: Path, store_url: str
) -> None:
    folder = tmp_path / "server"
    folder.mkdir(exist_ok=True)
    token = _token(store_url, folder)
    port = _free_port()
    server = _start_server(store_url, folder, port)
    n = 20_000
    clients = []
    for i in range(8):
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "LOOPML_DIR": str(tmp_path / f"client{i}"),
            "LOOPML_TRACKING_URI": f"http://127.0.0.1:{port}",
            "LOOPML_TOKEN": token,
            "LOOPML_FLUSH_INTERVAL": "0.05",
        }
        clients.append(
            subprocess.Popen(
                [sys.executable, str(CHILD), "faults", str(n), "finish"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        store = Store(Settings(data_dir=tmp_path / "reader", store_url=store_url))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill it once uploads are under way
            points = (
                sum(r.metrics["x"].count for r in store.runs.search("faults") if "x" in r.metrics)
                if store.list_projects()
                else 0
            )
            if points > 8 * 2000:
                break
            time.sleep(0.05)
        _kill(server)
        killed_at = points
        time.sleep(1.5)  # clients keep journaling while it is down
        server = _start_server(store_url, folder, port)
        outs = [c.communicate(timeout=180) for c in clients]
        for c, (_out, err) in zip(clients, outs, strict=True):
            assert c.returncode == 0, err
        assert 0 < killed_at < 8 * n
        runs = store.runs.search("faults", limit=None)
        assert len(runs) == 8
        for r in runs:
            assert r.status == "finished" and r.metrics["x"].count == n, r.id
            steps, _, values = store.runs.history(r.id, "x")
            assert steps == list(range(n)) and values == [float(i) for i in range(n)]
        store.close()
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
        _kill(server)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_on_one_postgres_work_together(tmp_path: Path, pg_schema_url: str) -> None:
    from loopml.tracking import HttpBackend

    folder = tmp_path / "server"
    folder.mkdir()
    token = _token(pg_schema_url, folder)
    port = _free_port()
    server = _start_server(pg_schema_url, folder, port, workers=2)
    try:
        backend = HttpBackend(f"http://127.0.0.1:{port}", token)
        from loopml.store import Batch

        # eight clients on their own connections, spread over both workers by the kernel
        backends = [HttpBackend(f"http://127.0.0.1:{port}", token) for _ in range(8)]
        for i, b in enumerate(backends):
            b.create(f"run{i:02d}aaaaaaaaaa", "two", f"r{i}", {}, {}, {}, journal_id=f"j{i}")
            for k in range(5):
                pts = [(k * 10 + s, 1.0, "x", float(s)) for s in range(10)]
                assert b.ingest(f"j{i}", f"run{i:02d}aaaaaaaaaa", Batch(points=pts), k, k + 1)
            assert not b.ingest(f"j{i}", f"run{i:02d}aaaaaaaaaa", Batch(points=pts), 4, 5)
        assert backend.count("two") == 8
        assert all(r.metrics["x"].count == 50 for r in backend.search("two", limit=None))
        for _ in range(40):
            r = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/whoami",
                headers={"Authorization": f"Bearer {token}", "Connection": "close"},
            )
            assert r.status_code == 200
        # a token revoked through one worker fails on every worker at once
        store = Store(Settings(data_dir=tmp_path / "reader", store_url=pg_schema_url))
        (info,) = store.users.tokens()
        store.users.revoke_token(info.id)
        for _ in range(10):
            r = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/whoami",
                headers={"Authorization": f"Bearer {token}", "Connection": "close"},
            )
            assert r.status_code == 401
        store.close()
    finally:
        _kill(server)


def _form_login(port: int, name: str, password: str) -> int:
    """One login through the form on a fresh connection (so the kernel picks the worker)."""
    import re

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Connection": "close"}) as c:
        page = c.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        r = c.post("/login", data={"name": name, "password": password, "csrf_token": csrf[1]})
        return r.status_code


@pytest.mark.slow
def test_login_rate_limit_is_shared_by_workers_and_replicas(tmp_path: Path, store_url: str) -> None:
    folder = tmp_path / "server"
    folder.mkdir(exist_ok=True)
    store = Store(Settings(data_dir=folder, store_url=store_url))
    store.users.add("alice", "member", password="right-password-long")
    store.close()
    ports = [_free_port(), _free_port()]
    # A server with two workers and a replica beside it, over one store: attempts alternate
    # between them, so counters kept per process would allow 5 failures in each (10 in all).
    servers = [_start_server(store_url, folder, ports[0], workers=2)]
    try:
        servers.append(_start_server(store_url, folder, ports[1], workers=1))
        statuses = [_form_login(ports[i % 2], "alice", "wrong") for i in range(12)]
        assert statuses[:5] == [401] * 5
        assert statuses[5:] == [429] * 7
        assert _form_login(ports[0], "alice", "right-password-long") == 429
        assert _form_login(ports[1], "alice", "right-password-long") == 429
        # Another user from the same address still logs in (30 per address).
        reader = Store(Settings(data_dir=tmp_path / "reader", store_url=store_url))
        reader.users.add("bob", "member", password="bobs-password-long")
        reader.close()
        assert _form_login(ports[0], "bob", "bobs-password-long") == 303
    finally:
        for server in servers:
            _kill(server)
