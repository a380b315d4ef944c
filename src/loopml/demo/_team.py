"""Demo stage: a team server on this machine, logged to by loopml's client and MLflow's.

``loopml server`` starts on SQLite inside the demo folder on a free loopback port, with a demo
user and API token. One run is logged through ``LOOPML_TRACKING_URI`` (the client journals
locally and uploads in the background), one with the stock ``mlflow`` client when it is
installed; both are then listed from the server, and the server is stopped. A rerun reuses the
user, the token and both runs (no new runs).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import LoopmlError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["TEAM_PROJECT", "team_server_demo"]

TEAM_PROJECT = "digits-team"
_USER = "demo"
_LOOPML_RUN = "logged-through-the-server"
_MLFLOW_RUN = "logged-by-mlflow"


def _token(store: Any, folder: Path) -> str:
    """The demo user's token: the one an earlier demo saved (0600), else a new one."""
    from loopml._errors import ConflictError

    saved = folder / "demo-token"
    with contextlib.suppress(ConflictError):
        store.users.add(_USER, "admin")
    if saved.exists():
        token = saved.read_text().strip()
        if store.users.authenticate_token(token) is not None:
            return token
    token = store.users.create_token(_USER, "demo")
    fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return str(token)


@contextlib.contextmanager
def _server(store_url: str, folder: Path) -> Iterator[str]:
    """Run ``loopml server`` on a free 127.0.0.1 port; yields its URL, stops it after."""
    log = open(folder / "server.log", "ab")  # noqa: SIM115 - closed below, after the server
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from loopml.cli import main; main()",
            "server",
            "--store",
            store_url,
            "--artifacts",
            str(folder),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,  # its own process group: stopping it stops nothing else
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "loopml server: http://127.0.0.1:PORT/  (...)"
        if "http://" not in line:
            raise LoopmlError(f"the demo's team server did not start; see {folder / 'server.log'}")
        url = line.split("http://", 1)[1].split("/", 1)[0]
        url = f"http://{url}"
        _wait_until_up(url, proc, folder)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


def _wait_until_up(url: str, proc: subprocess.Popen[str], folder: Path) -> None:
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=1)
        try:
            conn.request("GET", "/login")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
        finally:
            conn.close()
    raise LoopmlError(f"the demo's team server did not answer; see {folder / 'server.log'}")


def _log_with_loopml(url: str, token: str, folder: Path) -> tuple[str, bool]:
    """One run logged through the server (``LOOPML_TRACKING_URI``); (run id, whether reused)."""
    from loopml._config import Settings
    from loopml.tracking import Session

    settings = Settings(
        data_dir=folder / "client", tracking_uri=url, token=token, flush_interval=0.05
    )
    session = Session(settings, background_recovery=False)
    try:
        found = session.backend.search(TEAM_PROJECT, f"name = '{_LOOPML_RUN}'", None, 1)
        if found:
            return found[0].id, True
        run = session.start_run(TEAM_PROJECT, _LOOPML_RUN, config={"client": "loopml"})
        for step in range(20):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.finish()
        return run.id, False
    finally:
        session.shutdown()
        session.store.close()


def _log_with_mlflow(url: str, token: str) -> tuple[str, bool]:
    """One run logged by the stock mlflow client; (run id, whether reused)."""
    from mlflow.tracking import MlflowClient

    before = {
        k: os.environ.get(k) for k in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    }
    os.environ["MLFLOW_TRACKING_TOKEN"] = token
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "1"
    try:
        client = MlflowClient(tracking_uri=url)
        exp = client.get_experiment_by_name(TEAM_PROJECT)
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(TEAM_PROJECT)
        done = [r for r in client.search_runs([exp_id]) if r.info.run_name == _MLFLOW_RUN]
        if done:
            return done[0].info.run_id, True
        run = client.create_run(exp_id, run_name=_MLFLOW_RUN)
        rid = run.info.run_id
        client.log_param(rid, "client", "mlflow")
        for step in range(20):
            client.log_metric(rid, "loss", 1.2 / (step + 1), step=step)
        # (mlflow prints a link to its own web UI here, which this server does not serve)
        with contextlib.redirect_stdout(io.StringIO()):
            client.set_terminated(rid)
        return rid, False
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def team_server_demo(console: Console, folder: Path) -> list[str]:
    """Start a team server in ``folder``, log to it with both clients, list, stop; run ids."""
    from loopml._config import Settings
    from loopml.store import Store

    console.print("8. team server: loopml server on SQLite, logged to by loopml and by mlflow")
    folder.mkdir(parents=True, exist_ok=True)
    store_url = f"sqlite:///{folder / 'server.db'}"
    store = Store(Settings(data_dir=folder, store_url=store_url))
    try:
        token = _token(store, folder)
    finally:
        store.close()
    ids: list[str] = []
    with _server(store_url, folder) as url:
        console.print(
            f"   server at {url} (user '{_USER}', token in {folder / 'demo-token'})",
            markup=False,
            soft_wrap=True,
        )
        rid, reused = _log_with_loopml(url, token, folder)
        ids.append(rid)
        said = "reusing" if reused else "logged"
        console.print(f"   {said} run {rid[:8]} through LOOPML_TRACKING_URI={url}", markup=False)
        try:
            import mlflow  # noqa: F401 - a test extra, not a base dependency
        except ImportError:
            console.print(
                "   mlflow is not installed, so the stock-client part is skipped "
                "(pip install mlflow to see it)"
            )
        else:
            mid, reused = _log_with_mlflow(url, token)
            ids.append(mid)
            said = "reusing" if reused else "logged"
            console.print(f"   {said} run {mid[:8]} with the stock mlflow client", markup=False)
        listed = _list_runs(url, token)
        for run in listed:
            console.print(
                f"   on the server: {run['id'][:8]}  {run['name']:<26} {run['status']:<9} "
                f"loss {run['loss']}",
                markup=False,
            )
    console.print("   server stopped")
    return ids


def _list_runs(url: str, token: str) -> list[dict[str, Any]]:
    """The demo project's runs as the server's JSON API lists them."""
    from loopml.tracking import HttpBackend

    status, body, _ = HttpBackend(url, token).request("GET", f"/api/v1/runs?project={TEAM_PROJECT}")
    if status != 200:
        raise LoopmlError(f"the demo's team server answered HTTP {status} to GET /api/v1/runs")
    data = json.loads(body)
    rows = data.get("runs", data) if isinstance(data, dict) else data
    out = []
    for r in rows:
        metric = (r.get("metrics") or {}).get("loss")
        last = metric.get("last") if isinstance(metric, dict) else metric
        out.append(
            {
                "id": str(r["id"]),
                "name": str(r.get("name")),
                "status": str(r.get("status")),
                "loss": "-" if last is None else f"{float(last):.3f}",
            }
        )
    return sorted(out, key=lambda r: r["name"])
