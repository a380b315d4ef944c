"""Run inside ``unshare -n`` (``tests/_ray_cluster.py``): a two-node Ray cluster on 127.0.0.1,
a sweep on it, node 2 killed mid-sweep, then a sweep whose pruning bridge is killed; prints what
happened as the RESULT line."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests._ray_cluster import children, drive, our_pids, two_node_cluster

PORT, NODE2_PORT = 6390, 6391


def _kill_node2() -> bool:
    for p in our_pids():
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "/raylet " in cmd and f"--node_manager_port={NODE2_PORT} " in cmd:
            print(f"killing node 2: raylet {p}: {cmd[:200]}", file=sys.stderr)
            for q in [p, *children(p)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(q, signal.SIGKILL)
            return True
    return False


def _when_finished(
    sweeps: Any, project: str, n: int, act: Callable[[], None], within: float
) -> threading.Thread:
    """A thread that calls ``act`` once ``n`` trials of the project's sweep have finished
    (it gives up, without acting, after ``within`` seconds)."""

    def watch() -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = sweeps.list_sweeps(project=project)
            trials = sweeps.load_trials(found[0].id) if found else []
            if sum(t.state == "finished" for t in trials) >= n:
                act()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _sweep(project: str, n_trials: int, **options: Any) -> Any:
    """A random-search sweep of ``on_node`` with the median pruner on the cluster."""
    import loopml

    return loopml.sweep(
        "tests.sweeps_tests._objectives:on_node",
        {"x": loopml.uniform(0, 1)},
        metric="x",
        n_trials=n_trials,
        sampler="random",
        pruner="median",
        executor="ray",
        project=project,
        progress=False,
        **options,
    )


def _sweep_that_loses_its_bridge(sweeps: Any) -> dict[str, Any]:
    """On the surviving node: kill the sweep's pruning bridge mid-sweep; trials go on unpruned."""
    import ray

    killed: list[str] = []

    def kill_bridge() -> None:
        for name in ray.util.list_named_actors():
            if name.startswith("loopml-sweep-bridge-"):
                print(f"killing the bridge {name}", file=sys.stderr)
                ray.kill(ray.get_actor(name))
                killed.append(name)

    thread = _when_finished(sweeps, "ray-bridge", 2, kill_bridge, within=60)
    sweep = _sweep("ray-bridge", 6, parallel=1)
    thread.join(timeout=5)
    return {"killed": killed, "states": [t.state for t in sweep.trial_rows()]}


def main(result: dict[str, Any]) -> None:
    # Notice a dead node within a couple of seconds rather than the default tens of seconds.
    with two_node_cluster(
        PORT, NODE2_PORT, RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="5"
    ) as address:
        import ray

        import loopml
        from loopml.tracking import default_session

        ray.init(address=address, log_to_driver=False)
        result["nodes"] = len([n for n in ray.nodes() if n["Alive"]])
        sweeps = default_session().store.sweeps

        def kill_node2() -> None:
            result["killed_node2"] = _kill_node2()

        thread = _when_finished(sweeps, "ray", 4, kill_node2, within=120)
        sweep = _sweep("ray", 12, parallel=2, ray_address=address, retries=2)
        thread.join(timeout=5)
        store = default_session().store
        rows = sweep.trial_rows()
        result["trials"] = [
            {
                "number": t.number,
                "state": t.state,
                "attempts": t.attempts,
                "node": store.runs.get(t.run_id).tags.get("node"),
            }
            for t in rows
        ]
        result["runs"] = len(loopml.runs("ray", limit=None))
        result["after_bridge_lost"] = _sweep_that_loses_its_bridge(sweeps)
        ray.shutdown()


if __name__ == "__main__":
    drive(main)
