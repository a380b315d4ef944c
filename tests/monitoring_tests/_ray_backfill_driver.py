"""Run inside ``unshare -n`` (``tests/_ray_cluster.py``): on the two-node Ray cluster, backfill a
simulated log as Ray tasks (a day each) and compare with the local one-pass backfill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests._ray_cluster import drive, two_node_cluster

PORT, NODE2_PORT = 6390, 6391
START = 1_700_006_400.0


def main(result: dict[str, Any]) -> None:
    with two_node_cluster(PORT, NODE2_PORT) as address:
        import ray

        import loopml.monitoring as mon
        from loopml._config import Settings
        from loopml.store import Store

        ray.init(address=address, log_to_driver=False)
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
            "m", START + 86_400, START + 4 * 86_400, ray_address=address, store=store
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


if __name__ == "__main__":
    drive(main)
