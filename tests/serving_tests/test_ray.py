"""``serve_on_ray`` on a real two-node Ray cluster in its own network namespace (the sweeps
tests' machinery): both replicas answer, validation holds, every answer reaches the one log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sweeps_tests.test_ray import _can_unshare

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_replicas_on_two_nodes_share_one_prediction_log(tmp_path: Path) -> None:
    pytest.importorskip("ray.serve", reason="needs ray[serve]")
    reason = _can_unshare()
    if reason is not None:
        pytest.skip(reason)
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "LOOPML_DIR": str(tmp_path / "data"),
        "LOOPML_FLUSH_INTERVAL": "0.2",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        ["unshare", "-n", sys.executable, str(Path(__file__).with_name("_ray_serve_driver.py"))],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=580,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert "error" not in result, result["error"]
    assert result["nodes"] == 2
    assert result["replicas"] == {"RUNNING": 2}
    assert result["answered"] >= 200 and result["non_200"] == {}
    assert result["predictions"] == ["yes", "no"]
    assert result["bad_request"] == [422, "a"]
    assert result["logged"] == result["answered"]  # every answer, from both replicas, in one log
    assert result["journals"] == 2
