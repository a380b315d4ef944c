"""Logging to a team server: ``LOOPML_TRACKING_URI`` sends journal segments over HTTP."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml._config import Settings
from loopml.store import Store
from loopml.tracking import HttpBackend, Session
from tests._team import TeamServer

CHILD = Path(__file__).parent / "_remote_child.py"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TeamServer]:
    store = Store(Settings(data_dir=tmp_path / "server"))
    team = TeamServer(store)
    yield team
    team.stop()
    store.close()


def _client(tmp_path: Path, server: TeamServer, name: str = "client") -> Session:
    return Session(
        Settings(
            data_dir=tmp_path / name,
            flush_interval=0.05,
            tracking_uri=server.url,
            token=server.admin_token,
        )
    )


def test_settings_read_tracking_uri_and_token(tmp_path: Path) -> None:
    env = {"LOOPML_TRACKING_URI": "http://127.0.0.1:9/", "LOOPML_TOKEN": "lml_x"}
    s = Settings.from_env(env)
    assert (s.tracking_uri, s.token) == ("http://127.0.0.1:9", "lml_x")
    assert "lml_x" not in repr(s)
    creds = tmp_path / "cfg" / "loopml" / "credentials.json"
    creds.parent.mkdir(parents=True)
    creds.write_text('{"http://127.0.0.1:9": "lml_saved"}')
    env2 = {"LOOPML_TRACKING_URI": "http://127.0.0.1:9", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert Settings.from_env(env2).token == "lml_saved"
    from loopml import ValidationError

    with pytest.raises(ValidationError, match="http"):
        HttpBackend("ftp://host")


def test_a_run_logs_to_the_server(tmp_path: Path, server: TeamServer) -> None:
    session = _client(tmp_path, server)
    assert isinstance(session.backend, HttpBackend)
    run = session.start_run("remote", "r1", config={"lr": 0.1}, tags={"who": "me"}, lazy=True)
    for i in range(2000):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 2000}, step=i)
    art = tmp_path / "model.bin"
    art.write_bytes(os.urandom(300_000))
    assert run.log_artifact(str(art)) == ["model.bin"]
    run.finish()
    stored = server.store.runs.get(run.id)  # read on the server's side
    assert stored.status == "finished" and stored.params == {"lr": 0.1}
    assert stored.metrics["loss"].count == 2000 and stored.tags == {"who": "me"}
    assert server.store.runs.artifact_file(run.id, "model.bin").read_bytes() == art.read_bytes()
    # and read back through the client
    assert session.backend.get(run.id).history("acc")["acc"].tolist()[:2] == [0.0, 1 / 2000]
    assert session.backend.artifact_file(run.id, "model.bin").read_bytes() == art.read_bytes()
    assert not list(session.journals_dir.glob("*.journal"))  # uploaded, then deleted
    session.shutdown()


def test_server_down_keeps_journaling_and_uploads_when_back(
    tmp_path: Path, server: TeamServer
) -> None:
    session = _client(tmp_path, server)
    run = session.start_run("remote", lazy=True)
    run.log({"x": 0.0}, step=0)
    run.flush()
    server.stop()
    started = time.perf_counter()
    for i in range(1, 5001):
        run.log({"x": float(i)}, step=i)  # never waits on the server
    per_call = (time.perf_counter() - started) / 5000
    time.sleep(0.3)  # the writer fails and backs off meanwhile
    assert per_call < 0.001  # a loose bound: the journal append, not a network round trip
    server.restart()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if server.store.runs.get(run.id).metrics["x"].count == 5001:
                break
        except Exception:
            pass
        time.sleep(0.1)
    run.finish()
    stored = server.store.runs.get(run.id)
    assert stored.metrics["x"].count == 5001 and stored.status == "finished"
    steps, _, values = server.store.runs.history(run.id, "x")
    assert steps == list(range(5001)) and values == [float(i) for i in range(5001)]
    session.shutdown()


def test_the_journal_bytes_go_up_in_pieces_each_stored_once(
    tmp_path: Path, server: TeamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.tracking import _writer

    monkeypatch.setattr(_writer, "UPLOAD_BYTES", 4000)  # about 100 records a piece
    sent: list[tuple[int, int, bool]] = []
    real = HttpBackend.ingest_records

    def spy(self: HttpBackend, *args: object, **kwargs: object) -> bool:
        sent.append((int(args[3]), int(args[4]), bool(kwargs.get("close"))))  # type: ignore[call-overload]
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(HttpBackend, "ingest_records", spy)
    session = _client(tmp_path, server)
    run = session.start_run("remote", lazy=True)
    for i in range(3000):
        run.log({"loss": 1.0 / (i + 1), "acc": float("nan") if i % 7 == 0 else -0.0}, step=i)
    run.finish()
    assert len(sent) > 10
    assert all(a[1] == b[0] for a, b in itertools.pairwise(sent))  # contiguous
    assert [close for *_, close in sent] == [False] * (len(sent) - 1) + [True]
    assert all(end - start <= 4000 for start, end, _ in sent)
    stored = server.store.runs.get(run.id)
    assert stored.status == "finished" and stored.metrics["loss"].count == 3000
    steps, _, values = server.store.runs.history(run.id, "loss")
    assert steps == list(range(3000)) and values == [1.0 / (i + 1) for i in range(3000)]
    _, _, acc = server.store.runs.history(run.id, "acc")
    assert sum(v != v for v in acc) == 429 and all(str(v) == "-0.0" for v in acc if v == v)
    session.shutdown()


def test_records_whose_offsets_or_text_are_wrong_are_refused(
    tmp_path: Path, server: TeamServer
) -> None:
    from loopml import StoreError, ValidationError

    session = _client(tmp_path, server)
    run = session.start_run("remote", lazy=True)
    run.log({"x": 1.0}, step=0)
    run.flush()
    backend = session.backend
    assert isinstance(backend, HttpBackend)
    held = backend.journal_offset(run.journal.journal_id)
    assert held is not None
    good = b"m1\t2\tx\t2.0\n"
    with pytest.raises(ValidationError, match="do not span"):
        backend.ingest_records(run.journal.journal_id, run.id, good, held, held + 3)
    with pytest.raises(StoreError, match="malformed"):
        bad = b"m1\t2\tx\tabc\n"
        backend.ingest_records(run.journal.journal_id, run.id, bad, held, held + len(bad))
    assert server.store.runs.get(run.id).metrics["x"].count == 1  # nothing of either stored
    run.finish()
    session.shutdown()


def test_a_server_without_ingest_records_gets_parsed_batches(
    tmp_path: Path, server: TeamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.server import _api_backend

    monkeypatch.delitem(_api_backend._METHODS, "ingest_records")  # as a server before it
    session = _client(tmp_path, server)
    run = session.start_run("remote", lazy=True)
    for i in range(500):
        run.log({"loss": float(i)}, step=i)
    run.finish()
    assert server.store.runs.get(run.id).metrics["loss"].count == 500
    assert session.backend._server_parses is False  # type: ignore[attr-defined]
    session.shutdown()


def test_a_bad_token_is_refused_with_a_fix(tmp_path: Path, server: TeamServer) -> None:
    from loopml import StoreError

    backend = HttpBackend(server.url, "lml_wrong")
    with pytest.raises(StoreError, match="loopml login"):
        backend.search("p")


def _env(tmp_path: Path, server: TeamServer, name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LOOPML_DIR=str(tmp_path / name),
        LOOPML_TRACKING_URI=server.url,
        LOOPML_TOKEN=server.admin_token,
        LOOPML_FLUSH_INTERVAL="0.05",
        PYTHONPATH=str(REPO),
    )
    return env


@pytest.mark.slow
def test_killed_client_then_loopml_sync_loses_nothing_and_doubles_nothing(
    tmp_path: Path, server: TeamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.cli import app

    env = _env(tmp_path, server, "killed")
    n = 20_000
    proc = subprocess.run(
        [sys.executable, str(CHILD), "sync", str(n), "kill"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr
    run_id = proc.stdout.split()[0]
    uploaded = server.store.runs.get(run_id).metrics["x"].count  # what made it before the kill
    assert 0 < uploaded < n or uploaded == n
    for key in ("LOOPML_DIR", "LOOPML_TRACKING_URI", "LOOPML_TOKEN"):
        monkeypatch.setenv(key, env[key])
    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code == 0, result.output
    assert "uploaded 1 journal(s)" in result.output
    stored = server.store.runs.get(run_id)
    assert stored.metrics["x"].count == n and stored.status == "crashed"
    steps, _, _ = server.store.runs.history(run_id, "x")
    assert steps == list(range(n))  # each point once
    again = CliRunner().invoke(app, ["sync"])
    assert "uploaded 0 journal(s)" in again.output
    assert server.store.runs.get(run_id).metrics["x"].count == n


def test_init_with_server_switches_the_default_session(
    tmp_path: Path, server: TeamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml

    monkeypatch.setenv("LOOPML_TOKEN", server.admin_token)
    run = loopml.init(project="switched", server=server.url + "/")
    run.log({"a": 1.0}, step=0)
    run.finish()
    assert server.store.runs.get(run.id).metrics["a"].count == 1
