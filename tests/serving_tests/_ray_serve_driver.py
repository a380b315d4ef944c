"""Run inside ``unshare -n`` (``tests/_ray_cluster.py``): the model served on the two-node Ray
cluster by ``serve_on_ray`` with two replicas (one per node), traffic, and what reached the log."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

from tests._ray_cluster import drive, two_node_cluster

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


def main(result: dict[str, Any]) -> None:
    _seed()
    with two_node_cluster(PORT, NODE2_PORT) as address:
        import ray
        from ray import serve

        import loopml.serving

        url = loopml.serving.serve_on_ray(
            "rayed@champion",
            address=address,
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


if __name__ == "__main__":
    drive(main)
