"""The Ray executor against a real two-node cluster on 127.0.0.1, inside a network namespace.

Ray takes seconds and hundreds of MB to start, so there is one test: trials spread over both
nodes, the second node is killed mid-sweep, its trials are retried elsewhere, and the sweep
completes with every trial counted exactly once, all logged to this machine's store. Then a
second sweep on the surviving node has its pruning bridge killed mid-sweep and still completes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._ray_cluster import run_driver


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(480)  # about 25 s on a quiet machine, up to 3 minutes with both cores busy
def test_two_node_cluster_loses_a_node_and_the_sweep_completes(tmp_path: Path) -> None:
    result = run_driver(
        "tests.sweeps_tests._ray_driver", tmp_path, env={"LOOPML_TEST_SLEEP": "0.6"}
    )
    assert result["nodes"] == 2
    assert result["killed_node2"] is True
    trials = result["trials"]
    assert [t["number"] for t in trials] == list(range(12))  # each trial once
    assert {t["state"] for t in trials} <= {"finished", "pruned"}
    assert len({t["node"] for t in trials}) == 2  # spread over both nodes
    assert any(t["attempts"] > 1 for t in trials)  # the dead node's trial ran again elsewhere
    assert result["runs"] == 12
    # A second sweep on the surviving node loses its pruning bridge mid-sweep: a new one is made,
    # trials holding the old one run to the end unpruned, and none fails.
    second = result["after_bridge_lost"]
    assert len(second["killed"]) == 1
    assert len(second["states"]) == 6 and set(second["states"]) <= {"finished", "pruned"}
