"""``serve_on_ray`` on a real two-node Ray cluster in its own network namespace (the sweeps
tests' machinery): both replicas answer, validation holds, every answer reaches the one log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._ray_cluster import run_driver


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_replicas_on_two_nodes_share_one_prediction_log(tmp_path: Path) -> None:
    pytest.importorskip("ray.serve", reason="needs ray[serve]")
    result = run_driver(
        "tests.serving_tests._ray_serve_driver",
        tmp_path,
        env={"LOOPML_DIR": str(tmp_path / "data"), "LOOPML_FLUSH_INTERVAL": "0.2"},
        timeout=580,
    )
    assert result["nodes"] == 2
    assert result["replicas"] == {"RUNNING": 2}
    assert result["answered"] >= 200 and result["non_200"] == {}
    assert result["predictions"] == ["yes", "no"]
    assert result["bad_request"] == [422, "a"]
    assert result["logged"] == result["answered"]  # every answer, from both replicas, in one log
    assert result["journals"] == 2
