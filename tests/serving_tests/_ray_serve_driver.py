"""Run inside ``unshare -n``: a two-node Ray cluster on 127.0.0.1 (one CPU each), the model
served on it by ``serve_on_ray`` with two replicas (one per node), traffic, then print what
happened as JSON and stop this namespace's processes by pid (never ``ray stop``).

Reuses the sweeps tests' cluster machinery (``tests/sweeps_tests/_ray_driver.py``).
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
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.sweeps_tests._ray_driver import _our_pids, _ray_start

PORT, NODE2_PORT, HTTP_PORT = 6392, 6393, 8123


def _seed() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import loopml.registry as reg

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((100, 3)), columns=["a", "b", "c"])
    y = np.where(x["a"] > 0.5, "yes", "no")
    reg.register("rayed", LogisticRegression().fit(x, y), example=x[:3])
    reg.set_alias("rayed", "champion", 1, reason="ray test")


def main() -> int:
    import http.client

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    os.environ.update(
        RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32)
    )
    result: dict[str, object] = {}
    try:
        _seed()
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
        from ray import serve

        import loopml.serving

        url = loopml.serving.serve_on_ray(
            "rayed@champion",
            address=f"127.0.0.1:{PORT}",
            replicas=2,
            port=HTTP_PORT,
            blocking=False,
        )
        result["url"] = url
        result["nodes"] = len([n for n in ray.nodes() if n["Alive"]])
        replicas = serve.status().applications["loopml-rayed"].deployments["loopml-rayed"]
        result["replicas"] = replicas.replica_states
        answered: list[str] = []
        bad: dict[str, int] = {}
        deadline = time.monotonic() + 240
        while len(answered) < 200 and time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=60)
            try:
                body = {"records": [{"a": 0.9, "b": 0.1, "c": 0.2}, {"a": 0.1, "b": 0.5, "c": 0.5}]}
                conn.request(
                    "POST", "/predict", json.dumps(body), {"Content-Type": "application/json"}
                )
                r = conn.getresponse()
                data = json.loads(r.read())
                if r.status == 200:
                    answered.extend(data["ids"])
                    result["predictions"] = data["predictions"]
                else:
                    bad[str(r.status)] = bad.get(str(r.status), 0) + 1
            finally:
                conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=60)
        conn.request("POST", "/predict", json.dumps({"records": [{"a": "x", "b": 1, "c": 1}]}))
        r = conn.getresponse()
        result["bad_request"] = [r.status, json.loads(r.read()).get("column")]
        conn.close()
        result["answered"] = len(answered)
        result["non_200"] = bad
        serve.delete("loopml-rayed")  # replicas write out their logs as they stop
        ray.shutdown()
        loopml.serving.recover_log("rayed")
        log = loopml.serving.predictions("rayed")
        ok = log[log["status"] == 200]
        result["logged"] = int(ok["id"].isin(answered).sum())
        from loopml.tracking import default_session

        parts = default_session().store.predictions.files("rayed")
        result["journals"] = len({p.name.split("-")[0] for p in parts})
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
    sys.exit(main())
