"""Dashboard benchmark (issue 4): the runs table at 100,000 runs and a 1,000,000-point chart,
side by side with MLflow over the same runs, in one run on this machine.

    .venv/bin/python benchmarks/ui.py           # 100,000 runs, a 1,000,000-point series
    .venv/bin/python benchmarks/ui.py --quick   # 10,000 runs, 100,000 points (smoke only)

Both stores are SQLite files in fresh temporary folders, seeded in bulk straight into each tool's
own tables (loopml's through its store schema and dialect helpers, MLflow's through its SQLAlchemy
models), with the same values: per run 3 params, 1 tag, 2 metrics. Targets from issue 4:

  1. first runs-table page with 100,000 runs: < 300 ms
     (loopml: ``GET /runs`` HTML page and ``GET /api/v1/runs``, in process through FastAPI's
     TestClient: count + column choices + one page of 50 + render; MLflow: ``search_runs``,
     the call its UI's runs table makes, ``max_results=50``)
  2. a 1,000,000-point series downsampled on the server to <= 5,000 points: < 300 ms
     (loopml: ``GET /api/v1/series``, min and max per step bucket, kept in the database;
     MLflow: ``get_metric_history_bulk_interval(max_results=5000)``, what its UI charts call,
     and ``get_metric_history``, every point; the latter capped and extrapolated)
Each number is the median of repeats after one cold call; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Row,
    fmt_ratio,
    fmt_seconds,
    median_time,
    mlflow_template_rows,
    print_machine,
    print_table,
    temp_dir,
)

PROJECT = "bench-ui"
MODELS = ("svc", "rf", "knn", "mlp")
TARGET_S = 0.300
REPEAT = 7


def _inputs(i: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, str], dict[str, float]]:
    params = {
        "lr": round(10 ** rng.uniform(-4, -1), 6),
        "model": MODELS[i % 4],
        "layers": 1 + i % 5,
    }
    return params, {"team": "ab"[i % 2]}, {"acc": rng.random(), "loss": rng.random() * 3}


def _series(n: int) -> list[float]:
    """A noisy curve with one spike up and one down, which a chart must not lose."""
    rng = random.Random(1)
    values = [math.exp(-i / (n / 5)) + 0.05 * rng.random() for i in range(n)]
    values[n // 3] = 50.0
    values[2 * n // 3] = -50.0
    return values


# -- loopml -----------------------------------------------------------------------------------
def seed_loopml(data_dir: Path, n_runs: int, n_points: int) -> tuple[Any, str]:
    """``n_runs`` finished runs and one run with an ``n_points`` series, in bulk."""
    from loopml._config import Settings
    from loopml.store import Batch, Store
    from loopml.store._dialect import bulk_upsert
    from loopml.store._engine import run_write
    from loopml.store._schema_runs import metric_summary, params, runs, tags

    store = Store(Settings(data_dir=data_dir))
    keys = store.runs.intern_keys(["acc", "loss", "signal"])
    rng = random.Random(0)
    now = time.time() - n_runs
    run_rows, param_rows, tag_rows, summary_rows = [], [], [], []
    with store.engine.connect() as conn:
        pid = store.project_id(conn, PROJECT)
        conn.commit()
    for i in range(n_runs):
        rid = uuid.uuid4().hex[:16]
        p, t, m = _inputs(i, rng)
        created = now + i
        run_rows.append((rid, pid, f"run-{i}", "finished", created, created + 30.0, created + 30.0))
        for k, v in p.items():
            param_rows.append((rid, k, str(v), float(v) if not isinstance(v, str) else None))
        for k, v in t.items():
            tag_rows.append((rid, k, v))
        for k, v in m.items():
            summary_rows.append((rid, keys[k], v, 0, 9, v, v, 10))
    long_id = uuid.uuid4().hex[:16]
    values = _series(n_points)

    def write(conn: Any) -> None:
        bulk_upsert(
            conn,
            runs,
            ["id"],
            None,
            ("id", "project_id", "name", "status", "created_at", "ended_at", "heartbeat_at"),
            run_rows,
        )
        bulk_upsert(
            conn, params, ["run_id", "key"], None, ("run_id", "key", "value", "num"), param_rows
        )
        bulk_upsert(conn, tags, ["run_id", "key"], None, ("run_id", "key", "value"), tag_rows)
        cols = ("run_id", "key_id", "last", "last_flag", "last_step", "min", "max", "count")
        bulk_upsert(conn, metric_summary, ["run_id", "key_id"], None, cols, summary_rows)

    run_write(store.engine, write)
    # The long series goes through the store's real ingest path (as a run's journal would),
    # which also keeps the per-block extremes that charts are drawn from.
    store.runs.create(long_id, PROJECT, "long-series", {}, {}, {}, journal_id="bench")
    chunk = 100_000
    for start in range(0, n_points, chunk):
        stop = min(n_points, start + chunk)
        pts = [(i, now + i * 1e-3, "signal", values[i]) for i in range(start, stop)]
        store.runs.ingest("bench", long_id, Batch(points=pts), start, stop)
    final = {"status": "finished", "ended_at": now + 1.0}
    store.runs.ingest("bench", long_id, Batch(), n_points, n_points, final=final, close=True)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    return store, long_id


def count_selects(store: Any, fn: Any) -> int:
    """How many SELECT statements ``fn()`` sends."""
    from sqlalchemy import event

    seen: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        fn()
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)
    return len(seen)


# -- MLflow -----------------------------------------------------------------------------------
def seed_mlflow(data_dir: Path, n_runs: int, n_points: int) -> tuple[Any, str, str]:
    """The same runs in MLflow's own tables (a template run through the API, cloned in bulk)."""
    import mlflow
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from sqlalchemy import insert

    mlflow.set_tracking_uri(f"sqlite:///{data_dir / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    exp_id = mlflow.set_experiment(PROJECT).experiment_id
    with mlflow.start_run() as template:
        mlflow.log_params({"model": "svc"})
        mlflow.log_metrics({"acc": 0.5})
    engine = client._tracking_client.store.engine
    tid = template.info.run_id
    run_row, tag_rows, metric_row, latest_row = mlflow_template_rows(engine, tid)
    rng = random.Random(0)
    runs_, params_, tags_, metrics_, latest_ = [], [], [], [], []
    start = int((time.time() - n_runs) * 1000)
    for i in range(n_runs):
        p, t, m = _inputs(i, rng)
        rid = uuid.uuid4().hex
        runs_.append(
            dict(
                run_row,
                run_uuid=rid,
                name=f"run-{i}",
                experiment_id=int(exp_id),
                start_time=start + i * 1000,
            )
        )
        params_ += [{"run_uuid": rid, "key": k, "value": str(v)} for k, v in p.items()]
        tags_ += [dict(tg, run_uuid=rid) for tg in tag_rows if tg["key"].startswith("mlflow.")]
        tags_ += [{"run_uuid": rid, "key": k, "value": v} for k, v in t.items()]
        for k, v in m.items():
            metrics_.append(dict(metric_row, run_uuid=rid, key=k, value=v, step=9))
            latest_.append(dict(latest_row, run_uuid=rid, key=k, value=v, step=9))
    long_id = uuid.uuid4().hex
    runs_.append(
        dict(
            run_row,
            run_uuid=long_id,
            name="long-series",
            experiment_id=int(exp_id),
            start_time=start,
        )
    )
    values = _series(n_points)
    points = [
        dict(metric_row, run_uuid=long_id, key="signal", value=v, step=i, timestamp=start + i)
        for i, v in enumerate(values)
    ]
    latest_.append(
        dict(latest_row, run_uuid=long_id, key="signal", value=values[-1], step=n_points - 1)
    )
    with engine.begin() as conn:
        conn.execute(insert(SqlRun.__table__), runs_)
        conn.execute(insert(SqlParam.__table__), params_)
        conn.execute(insert(SqlTag.__table__), tags_)
        conn.execute(insert(SqlMetric.__table__), metrics_ + points)
        conn.execute(insert(SqlLatestMetric.__table__), latest_)
        conn.exec_driver_sql("ANALYZE")
    client.delete_run(tid)
    return client, exp_id, long_id


# -- the run ----------------------------------------------------------------------------------
def timed(fn: Any) -> tuple[float, float]:
    """(first call, median of REPEAT calls after it) in seconds."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    med, _ = median_time(fn, REPEAT)
    return first, med


def main(argv: list[str] | None = None) -> int:
    """Seed both stores, time the cases, print the side-by-side table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10,000 runs and 100,000 points")
    args = ap.parse_args(argv)
    n_runs, n_points = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    warnings.filterwarnings("ignore")
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print_machine()
    from fastapi.testclient import TestClient

    from loopml.server import create_app
    from loopml.store import _series

    rows: list[Row] = []
    with temp_dir("bench-ui-") as tmp:
        t0 = time.perf_counter()
        store, long_id = seed_loopml(tmp / "loopml", n_runs, n_points)
        print(
            f"loopml: seeded {n_runs:,} runs and a {n_points:,}-point series in {time.perf_counter() - t0:.1f} s"
        )
        t0 = time.perf_counter()
        client, exp_id, ml_long = seed_mlflow(tmp / "mlflow", n_runs, n_points)
        print(f"MLflow: seeded the same in {time.perf_counter() - t0:.1f} s")
        http = TestClient(create_app(store))

        def page(url: str) -> Any:
            def call() -> None:
                r = http.get(url)
                assert r.status_code == 200, (url, r.status_code, r.text[:500])

            return call

        cases = [
            ("first page (newest 50)", "", None, "", None),
            ("sorted by metric, desc", "", "-metrics.acc", "", ["metrics.acc DESC"]),
            (
                "filtered + sorted",
                "params.model = 'mlp' and tags.team = 'b'",
                "-metrics.acc",
                "params.model = 'mlp' and tags.team = 'b'",
                ["metrics.acc DESC"],
            ),
        ]
        for label, where, order, ml_where, ml_order in cases:
            state = {"project": PROJECT, "q": where or None, "order": order}
            qs = urlencode({k: v for k, v in {**state, "per": 50}.items() if v})
            api_qs = urlencode({k: v for k, v in {**state, "limit": 50}.items() if v})
            _, html_s = timed(page(f"/runs?{qs}"))
            _, api_s = timed(page(f"/api/v1/runs?{api_qs}"))
            first_store, store_s = timed(
                lambda w=where, o=order: store.runs.page(PROJECT, w or None, o, 50, 0)
            )

            def ml_call(w: str = ml_where, o: Any = ml_order) -> Any:
                return client.search_runs([exp_id], filter_string=w, order_by=o, max_results=50)

            ml_first, ml_s = timed(ml_call)
            rows.append(
                Row(
                    f"{n_runs:,} runs: {label}: page (HTML, TestClient)",
                    fmt_seconds(html_s),
                    fmt_seconds(ml_s),
                    fmt_ratio(html_s, ml_s, higher_is_better=False),
                    "< 300 ms",
                    html_s < TARGET_S,
                    [
                        f"JSON API {fmt_seconds(api_s)}; store query {fmt_seconds(store_s)} (cold {fmt_seconds(first_store)}); MLflow cold {fmt_seconds(ml_first)}",
                        "MLflow: MlflowClient.search_runs(max_results=50), no HTML",
                    ],
                )
            )
        small = count_selects(store, lambda: store.runs.page(PROJECT, None, "-metrics.acc", 5, 0))
        large = count_selects(store, lambda: store.runs.page(PROJECT, None, "-metrics.acc", 200, 0))
        rows.append(
            Row(
                "SQL SELECTs per runs page (5 vs 200 rows)",
                f"{small} vs {large}",
                "-",
                "-",
                "constant",
                small == large,
                ["no query per run"],
            )
        )

        body: dict[str, Any] = {}

        def series() -> None:
            r = http.get(f"/api/v1/series?run={long_id}&key=signal")
            assert r.status_code == 200
            body.update(r.json()["series"]["signal"][long_id])

        def series_uncached() -> None:
            _series._DOWNSAMPLED.items.clear()  # measure the database work, not the LRU cache
            series()

        first_s, series_s = timed(series_uncached)
        _, cached_s = timed(series)
        kept = body["values"]
        has_spikes = 50.0 in kept and -50.0 in kept
        ml_points: list[Any] = []

        def ml_sampled() -> None:
            ml_points[:] = client._tracking_client.store.get_metric_history_bulk_interval(
                [ml_long], "signal", 5000, None, None
            )

        ml_first, ml_series_s = timed(ml_sampled)
        ml_spikes = any(m.value == 50.0 for m in ml_points) and any(
            m.value == -50.0 for m in ml_points
        )
        rows.append(
            Row(
                f"{n_points:,}-point series -> <= 5,000 points",
                fmt_seconds(series_s),
                fmt_seconds(ml_series_s),
                fmt_ratio(series_s, ml_series_s, higher_is_better=False),
                "< 300 ms",
                series_s < TARGET_S and len(kept) <= 5000,
                [
                    f"loopml: {len(kept):,} points, spikes kept: {has_spikes}; median without the cache "
                    f"(first {fmt_seconds(first_s)}); repeat views hit the cache: {fmt_seconds(cached_s)}",
                    f"MLflow get_metric_history_bulk_interval: {len(ml_points):,} points (cold {fmt_seconds(ml_first)}), spikes kept: {ml_spikes}",
                ],
            )
        )
        # Every point through MLflow takes seconds per 100,000: time one call for the first
        # 100,000 points (MLflow's own paging) and extrapolate linearly to the whole series.
        cap = min(n_points, 100_000)
        t0 = time.perf_counter()
        hist = client._tracking_client.store.get_metric_history(ml_long, "signal", max_results=cap)
        full_s = (time.perf_counter() - t0) * n_points / len(hist)
        note = f"one call for {len(hist):,} points" + (
            f", extrapolated x{n_points // len(hist)}" if len(hist) < n_points else ""
        )
        rows.append(
            Row(
                f"{n_points:,}-point series, MLflow get_metric_history (all points)",
                fmt_seconds(series_s),
                fmt_seconds(full_s),
                fmt_ratio(series_s, full_s, higher_is_better=False),
                "-",
                None,
                [note, "what a client without server-side sampling must fetch"],
            )
        )
        print_table(
            rows,
            f"dashboard reads: loopml vs MLflow {__import__('mlflow').__version__} (SQLite, same data)",
            theirs="MLflow",
        )
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
