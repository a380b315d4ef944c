"""Backfill as Ray tasks on the sweeps tests' real two-node cluster (127.0.0.1, own namespace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._ray_cluster import run_driver

START = 1_700_006_400.0


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(480)
def test_backfill_on_a_two_node_cluster_matches_the_local_pass(tmp_path: Path) -> None:
    result = run_driver("tests.monitoring_tests._ray_backfill_driver", tmp_path)
    assert result["nodes"] == 2
    assert result["windows"] == 72
    assert len(result["task_nodes"]) == 2  # the day tasks ran on both nodes
    assert result["max_abs_diff"] < 1e-9 and result["same_missing"]
    assert result["drift_alerts"] and min(result["drift_alerts"]) == START + 40 * 3600
