"""Backfill as Ray tasks on the sweeps tests' real two-node cluster (127.0.0.1, own namespace)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sweeps_tests.test_ray import _can_unshare

ROOT = Path(__file__).resolve().parents[2]
START = 1_700_006_400.0


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(480)
def test_backfill_on_a_two_node_cluster_matches_the_local_pass(tmp_path: Path) -> None:
    reason = _can_unshare()
    if reason is not None:
        pytest.skip(reason)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env["HOME"] = str(tmp_path)
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.monitoring_tests._ray_backfill_driver"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=450,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert "error" not in result, result["error"] + done.stderr[-3000:]
    assert result["nodes"] == 2
    assert result["windows"] == 72
    assert len(result["task_nodes"]) == 2  # the day tasks ran on both nodes
    assert result["max_abs_diff"] < 1e-9 and result["same_missing"]
    assert result["drift_alerts"] and min(result["drift_alerts"]) == START + 40 * 3600
