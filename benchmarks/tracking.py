"""Tracking benchmark (issue 2): loopml side by side with MLflow, in one run on this machine.

    .venv/bin/python benchmarks/tracking.py            # the full run (a few minutes)
    .venv/bin/python benchmarks/tracking.py --quick    # a small smoke run (numbers not comparable)
    .venv/bin/python benchmarks/tracking.py --cases 1,4 --profile /tmp/prof   # pyinstrument reports

Every measurement runs in a fresh child process (so neither tool's imports, caches or background
threads leak into the other's numbers) with a fresh temporary folder as its working directory:
``LOOPML_DIR`` for loopml, a ``sqlite:///`` tracking URI (or a file store) for MLflow. Each number
is the median of repeats; the machine is shared, so expect noise of tens of percent.

Cases (targets from issue 2):
  1. 100,000 points logged one call at a time into one run (>= 500,000 points/s)
  2. 1,000 runs x 10 params x 5 tags x 5 metrics (>= 1,000 runs/s)
  3. filter + sort over 10,000 runs (< 100 ms)
  4. cold start: a fresh process imports, starts a run, logs one point, ends (< 0.5 s)
  5. crash safety: SIGKILL 2 s into a tight logging loop; acknowledged points vs stored points
MLflow's slow paths are capped and extrapolated; the table says where.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Row,
    fmt_rate,
    fmt_ratio,
    fmt_seconds,
    mlflow_template_rows,
    print_machine,
    print_table,
)

PY = sys.executable
HERE = Path(__file__).resolve()
WHERE = "metrics.acc > 0.9 and params.model = 'svc'"
MLFLOW_WHERE = "metrics.acc > 0.9 and params.model = 'svc'"
MODELS = ("svc", "rf", "knn", "mlp")

# ---------------------------------------------------------------------------------------------
# Workers: each runs in its own process (``tracking.py --worker NAME --kw JSON``) and prints one
# ``RESULT {json}`` line. The parent sets the working directory and environment.
# ---------------------------------------------------------------------------------------------


def _quiet_mlflow() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _Profile:
    """pyinstrument around the measured section when ``BENCH_PROFILE`` names an output file."""

    def __init__(self) -> None:
        self.out = os.environ.get("BENCH_PROFILE")
        self.profiler: Any = None

    def __enter__(self) -> _Profile:
        if self.out:
            from pyinstrument import Profiler

            self.profiler = Profiler(interval=0.0005)
            self.profiler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.profiler is not None:
            self.profiler.stop()
            Path(self.out).write_text(self.profiler.output_text(unicode=True, show_all=False))


def w_log_loopml(n: int) -> dict[str, Any]:
    import loopml

    run = loopml.init("bench-log")
    log = run.log
    values = [i * 1e-3 for i in range(n)]
    with _Profile():
        t0 = time.perf_counter()
        for x in values:
            log({"loss": x})
        t1 = time.perf_counter()
        run.finish()
        t2 = time.perf_counter()
    stored = loopml.get_run(run.id).metrics["loss"].count
    return {"log_s": t1 - t0, "finish_s": t2 - t1, "total_s": t2 - t0, "stored": stored}


def w_log_mlflow_call(n: int) -> dict[str, Any]:
    _quiet_mlflow()
    import mlflow

    mlflow.start_run()  # creates the schema on a fresh SQLite file: not timed
    t0 = time.perf_counter()
    for i in range(n):
        mlflow.log_metric("loss", i * 1e-3, step=i)
    t1 = time.perf_counter()
    mlflow.end_run()
    return {"total_s": t1 - t0}


def w_log_mlflow_batch(n: int, batch: int) -> dict[str, Any]:
    _quiet_mlflow()
    import mlflow
    from mlflow.entities import Metric

    client = mlflow.MlflowClient()
    run = mlflow.start_run()
    run_id = run.info.run_id
    store = type(client._tracking_client.store).__name__
    t0 = time.perf_counter()
    for b in range(0, n, batch):
        ts = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric("loss", i * 1e-3, ts, i) for i in range(b, min(n, b + batch))],
        )
    t1 = time.perf_counter()
    mlflow.end_run()
    return {"total_s": t1 - t0, "store": store}


def _run_inputs(
    i: int, rng: random.Random
) -> tuple[dict[str, Any], dict[str, str], dict[str, float]]:
    params: dict[str, Any] = {
        "model": MODELS[i % len(MODELS)],
        "lr": round(rng.uniform(1e-4, 1e-1), 6),
        "batch_size": rng.choice((16, 32, 64, 128)),
        "epochs": rng.randint(1, 50),
        "dropout": round(rng.uniform(0, 0.5), 4),
        "optimizer": rng.choice(("sgd", "adam", "adamw")),
        "seed": i,
        "layers": rng.randint(1, 8),
        "weight_decay": round(rng.uniform(0, 1e-2), 6),
        "augment": rng.choice(("none", "flip", "crop")),
    }
    tags = {
        "team": rng.choice(("vision", "nlp")),
        "stage": "dev",
        "owner": f"user{i % 7}",
        "dataset": "digits-v1",
        "note": f"trial {i}",
    }
    metrics = {
        "acc": round(rng.uniform(0.5, 1.0), 6),
        "loss": round(rng.uniform(0.0, 2.0), 6),
        "f1": round(rng.uniform(0.4, 1.0), 6),
        "precision": round(rng.uniform(0.4, 1.0), 6),
        "recall": round(rng.uniform(0.4, 1.0), 6),
    }
    return params, tags, metrics


def w_runs_loopml(n: int, project: str = "bench-runs") -> dict[str, Any]:
    import loopml

    warm = loopml.init("warmup")  # opens the store (and its schema): not timed
    warm.finish()
    rng = random.Random(0)
    inputs = [_run_inputs(i, rng) for i in range(n)]
    with _Profile():
        t0 = time.perf_counter()
        for params, tags, metrics in inputs:
            run = loopml.init(project)
            run.log_params(params)
            run.set_tags(tags)
            run.log(metrics)
            run.finish()
        t1 = time.perf_counter()
    return {"total_s": t1 - t0}


def w_runs_mlflow(n: int) -> dict[str, Any]:
    _quiet_mlflow()
    import mlflow

    mlflow.set_experiment("bench-runs")  # creates the schema: not timed
    with mlflow.start_run():
        pass
    rng = random.Random(0)
    inputs = [_run_inputs(i, rng) for i in range(n)]
    t0 = time.perf_counter()
    for params, tags, metrics in inputs:
        mlflow.start_run()
        mlflow.log_params(params)
        mlflow.set_tags(tags)
        mlflow.log_metrics(metrics)
        mlflow.end_run()
    t1 = time.perf_counter()
    return {"total_s": t1 - t0}


def w_seed_mlflow(n: int) -> dict[str, Any]:
    """Seed ``n`` finished runs into MLflow's SQLite schema in bulk.

    One run is made through the public API; its rows in ``runs``, ``params``, ``tags``,
    ``metrics`` and ``latest_metrics`` are the template for ``n`` clones (new ids and values),
    inserted with executemany in one transaction through MLflow's own engine and table models.
    """
    _quiet_mlflow()
    import mlflow
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from sqlalchemy import insert

    t0 = time.perf_counter()
    exp_id = mlflow.set_experiment("bench-search").experiment_id
    with mlflow.start_run() as template:
        mlflow.log_params({"model": "svc"})
        mlflow.log_metrics({"acc": 0.5})
    store = mlflow.MlflowClient()._tracking_client.store
    engine = store.engine
    tid = template.info.run_id
    run_row, tag_rows, metric_row, latest_row = mlflow_template_rows(engine, tid)
    rng = random.Random(0)
    runs_, params_, tags_, metrics_, latest_ = [], [], [], [], []
    base_uri = run_row["artifact_uri"].rsplit("/", 2)[0] if run_row["artifact_uri"] else None
    for i in range(n):
        params, tags, metrics = _run_inputs(i, rng)
        rid = uuid.uuid4().hex
        r = dict(run_row, run_uuid=rid, name=f"seed-{i}", experiment_id=int(exp_id))
        if base_uri:
            r["artifact_uri"] = f"{base_uri}/{rid}/artifacts"
        runs_.append(r)
        params_ += [{"run_uuid": rid, "key": k, "value": str(v)} for k, v in params.items()]
        tags_ += [dict(t, run_uuid=rid) for t in tag_rows if t["key"].startswith("mlflow.")]
        tags_ += [{"run_uuid": rid, "key": k, "value": v} for k, v in tags.items()]
        for k, v in metrics.items():
            metrics_.append(dict(metric_row, run_uuid=rid, key=k, value=v))
            latest_.append(dict(latest_row, run_uuid=rid, key=k, value=v))
    with engine.begin() as conn:
        conn.execute(insert(SqlRun.__table__), runs_)
        conn.execute(insert(SqlParam.__table__), params_)
        conn.execute(insert(SqlTag.__table__), tags_)
        conn.execute(insert(SqlMetric.__table__), metrics_)
        conn.execute(insert(SqlLatestMetric.__table__), latest_)
    mlflow.delete_run(tid)  # keep only the seeded runs visible
    return {"seed_s": time.perf_counter() - t0, "experiment_id": exp_id}


def _timed_calls(fn: Any, repeat: int) -> tuple[float, float, list[float], Any]:
    first_t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - first_t0
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t0)
    return first, statistics.median(samples), samples, out


def w_search_loopml(repeat: int) -> dict[str, Any]:
    import loopml

    res: dict[str, Any] = {}
    for label, limit in (("top", 100), ("all", None)):

        def call(limit: int | None = limit) -> Any:
            return loopml.runs("bench-search", where=WHERE, order_by="-metrics.acc", limit=limit)

        with _Profile() if label == "top" else _NoProfile():
            first, med, samples, frame = _timed_calls(call, repeat)
        res[label] = {
            "first_s": first,
            "median_s": med,
            "samples": samples,
            "rows": len(frame),
            "acc": [round(float(x), 6) for x in frame["metrics.acc"].head(100)],
        }
    return res


class _NoProfile:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def w_search_mlflow(repeat: int, experiment_id: str) -> dict[str, Any]:
    _quiet_mlflow()
    import mlflow

    res: dict[str, Any] = {}
    for label, limit in (("top", 100), ("all", 100_000)):

        def call(limit: int = limit) -> Any:
            return mlflow.search_runs(
                experiment_ids=[experiment_id],
                filter_string=MLFLOW_WHERE,
                order_by=["metrics.acc DESC"],
                max_results=limit,
            )

        first, med, samples, frame = _timed_calls(call, repeat)
        res[label] = {
            "first_s": first,
            "median_s": med,
            "samples": samples,
            "rows": len(frame),
            "acc": [round(float(x), 6) for x in frame["metrics.acc"].head(100)],
        }
    return res


def w_crash_child_loopml(counter: str, ready: str) -> dict[str, Any]:
    import loopml

    run = loopml.init("bench-crash")
    with open(counter, "r+b") as f:
        m = mmap.mmap(f.fileno(), 8)
    pack = struct.Struct("<q").pack_into
    log = run.log
    Path(ready).write_text(run.id)
    i = 0
    while True:
        log({"loss": i * 1e-3})
        i += 1
        pack(m, 0, i)  # acknowledged: log() returned for steps 0..i-1


def w_crash_child_mlflow(counter: str, ready: str) -> dict[str, Any]:
    _quiet_mlflow()
    import mlflow

    run = mlflow.start_run()
    with open(counter, "r+b") as f:
        m = mmap.mmap(f.fileno(), 8)
    pack = struct.Struct("<q").pack_into
    log = mlflow.log_metric
    Path(ready).write_text(run.info.run_id)
    i = 0
    while True:
        log("loss", i * 1e-3, step=i, synchronous=False)
        i += 1
        pack(m, 0, i)


def w_crash_check_loopml(run_id: str, acked: int) -> dict[str, Any]:
    import loopml

    t0 = time.perf_counter()
    report = loopml.recover()  # the store's first open has already replayed the journal
    recover_s = time.perf_counter() - t0
    rec = loopml.get_run(run_id)
    steps = rec.history(["loss"])["step"] if "loss" in rec.metrics else []
    below = int((steps < acked).sum()) if len(steps) else 0
    return {
        "status": rec.status,
        "stored": len(steps),
        "stored_acked": below,
        "recover_s": recover_s,
        "report_points": report.points,
    }


def w_crash_check_mlflow(run_id: str, acked: int) -> dict[str, Any]:
    _quiet_mlflow()
    import mlflow

    client = mlflow.MlflowClient()
    status = client.get_run(run_id).info.status
    steps = [m.step for m in client.get_metric_history(run_id, "loss")]
    below = len({s for s in steps if s < acked})
    return {"status": status, "stored": len(steps), "stored_acked": below}


WORKERS = {
    f.__name__[2:]: f
    for f in list(globals().values())
    if callable(f) and getattr(f, "__name__", "").startswith("w_")
}

# ---------------------------------------------------------------------------------------------
# The parent: fresh folders, child processes, medians, the table.
# ---------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="loopml-bench-"))
        self.profile_dir = Path(args.profile).absolute() if args.profile else None
        if self.profile_dir:
            self.profile_dir.mkdir(parents=True, exist_ok=True)
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self._n = 0

    def fresh(self, label: str) -> Path:
        self._n += 1
        d = self.root / f"{self._n:03d}-{label}"
        d.mkdir()
        return d

    def env(self, d: Path, tool: str, file_store: bool = False) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LOOPML_", "MLFLOW_", "BENCH_"))
        }
        # Both tools run from their bytecode, as an installed package does (the first child
        # writes it); compiling every module on every start is no user's cold start.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if tool == "loopml":
            env["LOOPML_DIR"] = str(d / ".loopml")
        else:
            if file_store:
                env["MLFLOW_TRACKING_URI"] = (d / "mlruns").as_uri()
                env["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 refuses the file store otherwise
            else:
                env["MLFLOW_TRACKING_URI"] = f"sqlite:///{d / 'mlflow.db'}"
            env["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
            env["GIT_PYTHON_REFRESH"] = "quiet"
        return env

    def worker(
        self,
        name: str,
        d: Path,
        tool: str,
        file_store: bool = False,
        profile: str | None = None,
        timeout: float = 1800,
        **kw: Any,
    ) -> dict[str, Any]:
        env = self.env(d, tool, file_store)
        if profile and self.profile_dir:
            env["BENCH_PROFILE"] = str(self.profile_dir / f"{profile}.txt")
        cmd = [PY, str(HERE), "--worker", name, "--kw", json.dumps(kw)]
        p = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=timeout)
        for line in reversed(p.stdout.splitlines()):
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        raise RuntimeError(
            f"worker {name} failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
        )

    def repeat(
        self, label: str, tool: str, name: str, times: int, **kw: Any
    ) -> list[dict[str, Any]]:
        if self.profile_dir and tool == "loopml":  # an extra, profiled run: not in the medians
            self.worker(name, self.fresh(label), tool, profile=name, **kw)
        return [self.worker(name, self.fresh(label), tool, **kw) for _ in range(times)]

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    # -- case 1 ---------------------------------------------------------------------------------
    def case1(self) -> None:
        a = self.args
        n = a.points
        self.say(f"case 1: {n:,} points into one run (loopml x{a.repeat})")
        res = self.repeat("c1-loopml", "loopml", "log_loopml", a.repeat, n=n)
        bad = [r["stored"] for r in res if r["stored"] != n]
        log_rate = statistics.median(n / r["log_s"] for r in res)
        e2e_rate = statistics.median(n / r["total_s"] for r in res)
        finish = statistics.median(r["finish_s"] for r in res)
        m_call = m_batch = None
        notes_call: list[str] = []
        notes_batch: list[str] = []
        if self.mlflow:
            cap = min(n, a.mlflow_points)
            self.say(
                f"case 1: MLflow log_metric per call on SQLite, {cap:,} points x{a.mlflow_repeat}"
            )
            rs = self.repeat("c1-mlflow-call", "mlflow", "log_mlflow_call", a.mlflow_repeat, n=cap)
            m_call = statistics.median(cap / r["total_s"] for r in rs)
            notes_call.append(
                f"MLflow: {cap:,} per-call log_metric points on SQLite, "
                f"{fmt_seconds(1 / m_call)} a point; {n:,} extrapolated to "
                f"{fmt_seconds(n / m_call)}"
            )
            self.notes.append(
                f"case 1: MLflow per-call log_metric measured on {cap:,} points (x{a.mlflow_repeat}), "
                f"extrapolated linearly to {n:,}"
            )
            self.say(
                f"case 1: MLflow log_batch x{a.batch:,} on the file store, {n:,} points x{a.mlflow_repeat}"
            )
            rs = []
            for _ in range(a.mlflow_repeat):
                rs.append(
                    self.worker(
                        "log_mlflow_batch",
                        self.fresh("c1-mlflow-batch"),
                        "mlflow",
                        file_store=True,
                        n=n,
                        batch=a.batch,
                    )
                )
            m_batch = statistics.median(n / r["total_s"] for r in rs)
            notes_batch.append(
                f"MLflow: client.log_batch of {a.batch:,} metrics per call, {rs[0]['store']} "
                "(MLflow 3 puts the file store in maintenance mode: it needs MLFLOW_ALLOW_FILE_STORE=true)"
            )
        target = 500_000
        n_txt = f"{n:,} log() calls, median of {a.repeat}"
        self.rows.append(
            Row(
                f"1a. {n:,} points, one call each: the log() calls alone",
                fmt_rate(log_rate, " pts/s"),
                fmt_rate(m_call, " pts/s") + " (extrap.)" if m_call else "-",
                fmt_ratio(log_rate, m_call),
                ">= 500,000/s",
                log_rate >= target,
                [
                    n_txt
                    + "; MLflow per-call log_metric is synchronous (a SQLite transaction a point)",
                    *notes_call,
                ],
            )
        )
        self.rows.append(
            Row(
                "1b. same, end to end: log() calls + finish() draining into the store",
                fmt_rate(e2e_rate, " pts/s"),
                fmt_rate(m_call, " pts/s") + " (extrap.)" if m_call else "-",
                fmt_ratio(e2e_rate, m_call),
                ">= 500,000/s",
                e2e_rate >= target,
                [
                    f"loopml finish() took {fmt_seconds(finish)} (median); every point verified in the store"
                    + (f" [MISMATCH: stored {bad}]" if bad else "")
                ],
            )
        )
        self.rows.append(
            Row(
                f"1c. same end to end vs MLflow's fastest path (log_batch x{a.batch:,}, file store)",
                fmt_rate(e2e_rate, " pts/s"),
                fmt_rate(m_batch, " pts/s") if m_batch else "-",
                fmt_ratio(e2e_rate, m_batch),
                "-",
                None,
                [
                    f"{n:,} points through MLflow in {n // a.batch} batches (not per call)",
                    *notes_batch,
                ],
            )
        )

    # -- case 2 ---------------------------------------------------------------------------------
    def case2(self) -> None:
        a = self.args
        n = a.runs
        self.say(f"case 2: {n:,} runs x 10 params x 5 tags x 5 metrics (loopml x{a.repeat})")
        res = self.repeat("c2-loopml", "loopml", "runs_loopml", a.repeat, n=n)
        rate = statistics.median(n / r["total_s"] for r in res)
        m_rate = None
        notes = [
            f"loopml: init + log_params + set_tags + log + finish per run, median of {a.repeat}"
        ]
        if self.mlflow:
            cap = min(n, a.mlflow_runs)
            self.say(f"case 2: MLflow, {cap:,} runs x{a.mlflow_repeat}")
            rs = self.repeat("c2-mlflow", "mlflow", "runs_mlflow", a.mlflow_repeat, n=cap)
            m_rate = statistics.median(cap / r["total_s"] for r in rs)
            notes.append(
                f"MLflow (SQLite): start_run + log_params + set_tags + log_metrics + end_run, {cap:,} runs "
                f"measured, {n:,} extrapolated to {fmt_seconds(n / m_rate)}"
            )
            self.notes.append(
                f"case 2: MLflow run creation measured on {cap:,} runs (x{a.mlflow_repeat}), extrapolated to {n:,}"
            )
        self.rows.append(
            Row(
                f"2. create {n:,} runs (10 params, 5 tags, 5 metrics each)",
                fmt_rate(rate, " runs/s"),
                (fmt_rate(m_rate, " runs/s") + " (extrap.)") if m_rate else "-",
                fmt_ratio(rate, m_rate),
                ">= 1,000/s",
                rate >= 1000,
                notes,
            )
        )

    # -- case 3 ---------------------------------------------------------------------------------
    def case3(self) -> None:
        a = self.args
        n = a.search_runs
        d = self.fresh("c3-loopml")
        self.say(f"case 3: seeding {n:,} loopml runs through its API")
        seed = self.worker("runs_loopml", d, "loopml", n=n, project="bench-search")
        self.say(f"case 3: loopml.runs() x{a.query_repeat} (+1 first call)")
        lres = self.worker("search_loopml", d, "loopml", repeat=a.query_repeat)
        if self.profile_dir:  # an extra, profiled pass: not in the medians
            self.worker(
                "search_loopml", d, "loopml", profile="search_loopml", repeat=a.query_repeat
            )
        mres = None
        m_n = min(n, a.mlflow_search_runs)
        if self.mlflow:
            dm = self.fresh("c3-mlflow")
            self.say(f"case 3: seeding {m_n:,} MLflow runs in bulk")
            mseed = self.worker("seed_mlflow", dm, "mlflow", n=m_n)
            self.say(f"case 3: mlflow.search_runs() x{a.mlflow_query_repeat} (+1 first call)")
            mres = self.worker(
                "search_mlflow",
                dm,
                "mlflow",
                repeat=a.mlflow_query_repeat,
                experiment_id=str(mseed["experiment_id"]),
            )
            self.notes.append(
                f"case 3: MLflow's {m_n:,} runs were seeded in bulk ({fmt_seconds(mseed['seed_s'])}): one run made "
                "through the API is the template for executemany inserts into MLflow's own runs/params/tags/"
                "metrics/latest_metrics tables (same values as loopml's runs, same random seed)"
            )
        for label, lim in (("top", "limit=100"), ("all", "limit=None")):
            lr = lres[label]
            notes = [
                f"loopml.runs(where=\"{WHERE}\", order_by='-metrics.acc', {lim}) -> {lr['rows']} rows; "
                f"median of {a.query_repeat} after a first call of {fmt_seconds(lr['first_s'])}"
            ]
            m_med = None
            if mres:
                mr = mres[label]
                m_med = mr["median_s"]
                same = (
                    "same top-100 acc values as loopml"
                    if (m_n == n and mr["acc"] == lr["acc"])
                    else (
                        "top-100 differs from loopml!"
                        if m_n == n
                        else f"MLflow holds {m_n:,} runs, not {n:,}"
                    )
                )
                notes.append(
                    f"mlflow.search_runs(filter_string=..., order_by=['metrics.acc DESC'], "
                    f"max_results={100 if label == 'top' else 100_000}) -> {mr['rows']} rows; median of "
                    f"{a.mlflow_query_repeat} after a first call of {fmt_seconds(mr['first_s'])}; {same}"
                )
            self.rows.append(
                Row(
                    f"3{'a' if label == 'top' else 'b'}. filter + sort over {n:,} runs, {lim}",
                    fmt_seconds(lr["median_s"]),
                    (fmt_seconds(m_med) + (f" ({m_n:,} runs)" if m_n != n else ""))
                    if m_med
                    else "-",
                    fmt_ratio(lr["median_s"], m_med, higher_is_better=False) if m_n == n else "-",
                    "< 100 ms",
                    lr["median_s"] < 0.1,
                    notes,
                )
            )
        self.rows.append(
            Row(
                f"3c. (seeding {n:,} runs through loopml's API, for reference)",
                fmt_rate(n / seed["total_s"], " runs/s"),
                "-",
                "-",
                "-",
                None,
                [
                    f"{fmt_seconds(seed['total_s'])} for {n:,} runs in one process (store grows while seeding)"
                ],
            )
        )

    # -- case 4 ---------------------------------------------------------------------------------
    def _cold(self, tool: str, code: str, fresh_each: bool, times: int) -> list[float]:
        samples = []
        shared = self.fresh(f"c4-{tool}")
        for _ in range(times + (0 if fresh_each else 1)):
            d = self.fresh(f"c4-{tool}") if fresh_each else shared
            env = self.env(d, tool)
            t0 = time.perf_counter()
            p = subprocess.run(
                [PY, "-c", code], cwd=d, env=env, capture_output=True, text=True, timeout=300
            )
            dt = time.perf_counter() - t0
            if p.returncode != 0:
                raise RuntimeError(f"cold start of {tool} failed:\n{p.stderr[-3000:]}")
            samples.append(dt)
        return (
            samples if fresh_each else samples[1:]
        )  # the shared folder's first run made the store

    def case4(self) -> None:
        a = self.args
        k = a.cold_repeat
        self.say(f"case 4: cold start, median of {k}")
        lcode = "import loopml; r = loopml.init('cold'); r.log({'loss': 0.5}); r.finish()"
        mcode = (
            "import mlflow; mlflow.start_run(); mlflow.log_metric('loss', 0.5); mlflow.end_run()"
        )
        base = statistics.median(self._cold("python", "pass", True, k))
        imp = statistics.median(self._cold("loopml", "import loopml", True, k))
        for fresh_each, label in (
            (False, "existing store"),
            (True, "fresh folder (store created)"),
        ):
            ls = self._cold("loopml", lcode, fresh_each, k)
            ms = self._cold("mlflow", mcode, fresh_each, k) if self.mlflow else None
            lm = statistics.median(ls)
            mm = statistics.median(ms) if ms else None
            notes = [
                f"median of {k} fresh `python -c` processes, wall clock incl. interpreter start "
                f"({fmt_seconds(base)} for `python -c pass`; `import loopml` alone {fmt_seconds(imp)})",
                f"loopml samples: {', '.join(fmt_seconds(s) for s in ls)}",
            ]
            if ms:
                notes.append(f"MLflow (SQLite) samples: {', '.join(fmt_seconds(s) for s in ms)}")
            if fresh_each:
                notes.append(
                    "each process in a new empty folder: both tools create their schema (migrations)"
                )
            else:
                notes.append("the store already exists (made by an earlier, untimed process)")
            notes.append("working directory is not a git checkout (both tools look for one)")
            self.rows.append(
                Row(
                    f"4{'a' if not fresh_each else 'b'}. cold start: import, start run, log 1 point, end; {label}",
                    fmt_seconds(lm),
                    fmt_seconds(mm),
                    fmt_ratio(lm, mm, higher_is_better=False),
                    "< 0.5 s",
                    lm < 0.5,
                    notes,
                )
            )

    # -- case 5 ---------------------------------------------------------------------------------
    def _crash_once(self, tool: str) -> dict[str, Any]:
        d = self.fresh(f"c5-{tool}")
        counter, ready = d / "acked.bin", d / "ready.txt"
        counter.write_bytes(b"\0" * 8)
        env = self.env(d, tool)
        name = f"crash_child_{tool}"
        cmd = [
            PY,
            str(HERE),
            "--worker",
            name,
            "--kw",
            json.dumps({"counter": str(counter), "ready": str(ready)}),
        ]
        proc = subprocess.Popen(
            cmd, cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while not ready.exists() or not ready.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"crash child {tool} did not start: {proc.stderr.read().decode()[-3000:]}"
                )
            time.sleep(0.005)
        time.sleep(self.args.kill_after)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]
        acked = struct.unpack("<q", counter.read_bytes()[:8])[0]
        run_id = ready.read_text().strip()
        t0 = time.perf_counter()
        check = self.worker(f"crash_check_{tool}", d, tool, run_id=run_id, acked=acked)
        check["check_s"] = time.perf_counter() - t0
        check["acked"] = acked
        check["lost"] = acked - check["stored_acked"]
        return check

    def case5(self) -> None:
        a = self.args
        k = a.crash_repeat
        self.say(f"case 5: SIGKILL after {a.kill_after} s of logging, x{k} per tool")
        lres = [self._crash_once("loopml") for _ in range(k)]
        mres = [self._crash_once("mlflow") for _ in range(k)] if self.mlflow else []

        def lost_txt(rs: list[dict[str, Any]]) -> str:
            if not rs:
                return "-"
            return "\n".join(
                f"{r['lost']:,} of {r['acked']:,} ({100 * r['lost'] / max(1, r['acked']):.1f}%)"
                for r in rs
            )

        self.rows.append(
            Row(
                f"5a. SIGKILL {a.kill_after:g} s into a tight log loop: acknowledged points lost",
                lost_txt(lres),
                lost_txt(mres),
                "-",
                "0 lost",
                all(r["lost"] == 0 for r in lres),
                [
                    "the child records each step whose log() returned in an mmap'd counter; after the kill, "
                    "loopml's store is reopened (recovery replays the journal); MLflow has no recovery",
                    "MLflow: log_metric(..., synchronous=False) on SQLite",
                    "loopml recovery (journal replay) took "
                    + ", ".join(fmt_seconds(r["check_s"]) for r in lres)
                    + " incl. process start",
                ],
            )
        )
        self.rows.append(
            Row(
                "5b. the killed run's status afterwards",
                ", ".join(sorted({r["status"] for r in lres})),
                ", ".join(sorted({r["status"] for r in mres})) or "-",
                "-",
                "crashed",
                all(r["status"] == "crashed" for r in lres),
                [f"{k} kill(s) per tool"],
            )
        )

    # -- all ------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            import mlflow

            self.mlflow: str | None = mlflow.__version__
        except ImportError:
            self.mlflow = None
            self.notes.append("MLflow is not installed (pip install -e '.[bench]'): loopml only")
        import loopml

        print_machine(
            f"tracking benchmark: loopml {loopml.__version__} vs MLflow {self.mlflow or '(absent)'}",
            {"loopml source": _source_version(), "sqlite": _sqlite_version()},
        )
        if self.args.quick:
            print("--quick: a smoke run with small sizes; the numbers are not the benchmark's")
        cases = {
            "1": self.case1,
            "2": self.case2,
            "3": self.case3,
            "4": self.case4,
            "5": self.case5,
        }
        t0 = time.perf_counter()
        for c in self.args.cases.split(","):
            cases[c.strip()]()
        print()
        print_table(
            self.rows,
            "loopml vs MLflow: tracking (ratio = how many times better loopml is)",
            "loopml",
            f"MLflow {self.mlflow}",
        )
        for note in self.notes:
            print(f"- {note}")
        print(
            f"- medians of repeats on a shared machine; loopml repeats {self.args.repeat}, "
            f"MLflow repeats {self.args.mlflow_repeat}; total {fmt_seconds(time.perf_counter() - t0)}; "
            f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
            f"on {os.cpu_count()} cores (compare ratios, not absolute numbers, across runs)"
        )
        if self.profile_dir:
            print(f"- pyinstrument reports of loopml's measured sections: {self.profile_dir}")


def _source_version() -> str:
    """The git commit of the loopml checkout being measured, and whether its code is edited."""
    import loopml

    src = Path(loopml.__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=src,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return str(src)
    if not head:
        return str(src)
    return f"{head}" + (" + uncommitted changes under src/loopml" if dirty else " (clean)")


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a small smoke run")
    p.add_argument("--cases", default="1,2,3,4,5", help="which cases, e.g. 1,3")
    p.add_argument("--repeat", type=int, default=5, help="repeats of loopml's throughput cases")
    p.add_argument(
        "--mlflow-repeat", type=int, default=3, help="repeats of MLflow's throughput cases"
    )
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument(
        "--mlflow-points", type=int, default=2_000, help="cap for MLflow's per-call path"
    )
    p.add_argument("--batch", type=int, default=1_000)
    p.add_argument("--runs", type=int, default=1_000)
    p.add_argument("--mlflow-runs", type=int, default=200, help="cap for MLflow's run creation")
    p.add_argument("--search-runs", type=int, default=10_000)
    p.add_argument("--mlflow-search-runs", type=int, default=10_000)
    p.add_argument("--query-repeat", type=int, default=7)
    p.add_argument("--mlflow-query-repeat", type=int, default=3)
    p.add_argument("--cold-repeat", type=int, default=5)
    p.add_argument("--crash-repeat", type=int, default=3)
    p.add_argument("--kill-after", type=float, default=2.0)
    p.add_argument(
        "--profile", metavar="DIR", help="write pyinstrument reports of loopml's measured sections"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folders")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--kw", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        out = WORKERS[args.worker](**json.loads(args.kw))
        print("RESULT " + json.dumps(out), flush=True)
        return 0
    if args.quick:
        args.repeat = args.mlflow_repeat = 1
        args.points, args.mlflow_points = 10_000, 200
        args.runs, args.mlflow_runs = 100, 20
        args.search_runs = args.mlflow_search_runs = 500
        args.query_repeat = args.mlflow_query_repeat = 2
        args.cold_repeat, args.crash_repeat = 2, 1
        args.kill_after = 1.0
    bench = Bench(args)
    try:
        bench.run()
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(bench.root, ignore_errors=True)
        else:
            print(f"- temporary folders kept in {bench.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
