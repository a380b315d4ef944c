"""Run inside ``unshare -n``: start a two-node Ray cluster on 127.0.0.1, sweep on it, kill node 2
mid-sweep, print what happened as JSON, then stop this namespace's processes by pid.

Every process in the fresh network namespace is one this script started, so stopping "all
processes in our namespace except us" stops exactly our Ray processes (never ``ray stop``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

PORT, NODE2_PORT = 6390, 6391
RAY = str(Path(sys.executable).with_name("ray"))


def _ns() -> str:
    return os.readlink("/proc/self/ns/net")


def _our_pids() -> list[int]:
    me, out = _ns(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if os.readlink(entry / "ns/net") == me:
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _children(pid: int) -> list[int]:
    found = []
    for p in _our_pids():
        try:
            ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found += [p, *_children(p)]
    return found


def _kill_node2() -> bool:
    for p in _our_pids():
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "/raylet " in cmd and f"--node_manager_port={NODE2_PORT} " in cmd:
            print(f"killing node 2: raylet {p}: {cmd[:200]}", file=sys.stderr)
            for q in [p, *_children(p)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(q, signal.SIGKILL)
            return True
    return False


def _ray_start(*args: str) -> None:
    done = subprocess.run([RAY, "start", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"ray start {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )


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


def main() -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # Token auth, with a token made for this cluster only (nodes and the driver share it).
    os.environ.update(
        RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32)
    )
    # Notice a dead node within a couple of seconds rather than the default tens of seconds.
    os.environ.update(RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="5")
    result: dict[str, object] = {}
    try:
        common = ["--num-cpus=1", "--disable-usage-stats"]
        _ray_start(
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={PORT}",
            "--include-dashboard=false",
            *common,
        )
        _ray_start(f"--address=127.0.0.1:{PORT}", f"--node-manager-port={NODE2_PORT}", *common)
        import ray

        import loopml
        from loopml.tracking import default_session

        ray.init(address=f"127.0.0.1:{PORT}", log_to_driver=False)
        result["nodes"] = len([n for n in ray.nodes() if n["Alive"]])
        sweeps = default_session().store.sweeps

        def kill_node2() -> None:
            result["killed_node2"] = _kill_node2()

        thread = _when_finished(sweeps, "ray", 4, kill_node2, within=120)
        sweep = _sweep("ray", 12, parallel=2, ray_address=f"127.0.0.1:{PORT}", retries=2)
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
    except Exception:
        # Said in the result, so the test shows why (the cluster is killed below either way).
        result["error"] = traceback.format_exc()[-4000:]
    finally:
        for p in _our_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        # ``ray start --head`` leaves the cluster's address for later ``ray.init()`` calls to find.
        marker = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if marker.exists() and f":{PORT}" in marker.read_text():
            marker.unlink()
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Not a normal exit: Ray's exit hooks would wait a minute for the GCS killed above.
    os._exit(code)
