"""``serve`` and ``loopml ui``: loopback by default, a real uvicorn process, Ctrl-C stops it."""

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
from typer.testing import CliRunner

from loopml import LoopmlError, ValidationError
from loopml.cli import app
from loopml.server import is_loopback, serve


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_remote_hosts_refused_without_flag(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ValidationError, match="--allow-remote"):
        serve(host=host, port=0)


def test_cli_refuses_remote_host() -> None:
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ValidationError)
    assert "--allow-remote" in str(result.exception)


def test_bad_port() -> None:
    with pytest.raises(ValidationError, match="port"):
        serve(port=70000)


def test_port_in_use_is_a_readable_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LoopmlError, match="--port"):
            serve(port=port)


def test_loopml_ui_serves_until_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "LOOPML_DIR": str(tmp_path / "data")}
    code = "from loopml.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "ui", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("loopml dashboard: http://127.0.0.1:"), line
        url = line.split()[2]
        for _ in range(100):  # the URL is printed just before uvicorn binds
            try:
                r = httpx.get(url + "api/v1/projects", timeout=5)
                break
            except httpx.ConnectError:
                proc.poll()
                assert proc.returncode is None, proc.stdout.read()
                time.sleep(0.1)
        assert r.status_code == 200 and r.json() == []
        # A Host header naming another site is refused (DNS rebinding).
        assert httpx.get(url, headers={"Host": "evil.example"}, timeout=5).status_code == 400
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
