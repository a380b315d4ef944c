"""Run inside ``unshare -n``: start the sweeps tests' two-node Ray cluster on 127.0.0.1, backfill
a simulated log as Ray tasks (a day each), compare with the local one-pass backfill, print JSON,
then stop this namespace's processes by pid (never ``ray stop``)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from tests.sweeps_tests._ray_driver import NODE2_PORT, PORT, _our_pids, _ray_start

START = 1_700_006_400.0


def main() -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    os.environ.update(
        RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32)
    )
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

        import loopml.monitoring as mon
        from loopml._config import Settings
        from loopml.store import Store

        ray.init(address=f"127.0.0.1:{PORT}", log_to_driver=False)
        result["nodes"] = len([n for n in ray.nodes() if n["Alive"]])
        store = Store(Settings(data_dir=Path.cwd() / "data"))
        inc = mon.Incident("drift", START + 40 * 3600, START + 46 * 3600, "x1", size=1.5)
        mon.simulate_log(
            "m",
            start=START,
            days=4,
            rows_per_hour=120,
            numeric=4,
            categorical=2,
            incidents=[inc],
            store=store,
        )
        mon.init("m", reference_since=START, reference_until=START + 86_400, store=store)
        run = mon.backfill(
            "m", START + 86_400, START + 4 * 86_400, ray_address=f"127.0.0.1:{PORT}", store=store
        )
        result["windows"] = run.windows
        result["task_nodes"] = run.nodes
        result["drift_alerts"] = sorted(
            {a.window_start for a in run.alerts if a.metric == "feature.x1.drift"}
        )
        on_ray = mon.values("m", store=store)
        local = mon.compute_windows(
            mon.catalog("m", store=store),
            store.predictions,
            "m",
            3600,
            START + 86_400,
            START + 4 * 86_400,
        ).wide()
        common_cols = [c for c in local.columns if c in on_ray.columns]
        diff = on_ray[common_cols].to_numpy() - local[common_cols].to_numpy()
        result["max_abs_diff"] = float(abs(diff[~(diff != diff)]).max())
        result["same_missing"] = bool(
            (
                (on_ray[common_cols].isna().to_numpy()) == (local[common_cols].isna().to_numpy())
            ).all()
        )
        ray.shutdown()
    except Exception:
        result["error"] = traceback.format_exc()[-4000:]
    finally:
        for p in _our_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        marker = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if marker.exists() and f":{PORT}" in marker.read_text():
            marker.unlink()
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)
