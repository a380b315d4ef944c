"""Serving benchmark: loopml (prediction log on and off) beside a bare FastAPI + uvicorn app (the
floor), MLflow ``models serve``, BentoML and LitServe, on the same model and load.

The model is a HistGradientBoostingClassifier (25 features, 3 classes). Every server runs with
2 workers and its model capped at 1 thread per worker (``OMP_NUM_THREADS=1``, as each would be
tuned); the load generator (``_loadgen.py``) runs in its own process: closed loop, keep-alive,
1, 8 and 32 connections, single rows and batches of 100. An anchor that is not installed is
skipped with the reason printed (``pip install -e '.[bench]'`` installs them; if an anchor's pins
clash with loopml's, install it into a throwaway venv and pass its python with
``--anchor-python NAME=/tmp/venv/bin/python``).

    python benchmarks/serving.py                # all cells, ~3 s each
    python benchmarks/serving.py --quick        # single rows only, 1 and 32 connections
    python benchmarks/serving.py --cold-starts 7 --only loopml,floor   # cold starts only
    python benchmarks/serving.py --log-cost 7   # the prediction log's cost, 7 interleaved pairs

For loopml every cell also shows how its workers split the connections (``split 17+15``: each
worker's share of the keep-alive connections, sampled while the load runs) and the server's CPU
time per answered request (all its processes, ``cpu 0.62 ms/req``), which the machine's load
moves much less than requests/s when other programs share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import print_machine

HERE = Path(__file__).parent
N_FEATURES = 25
THREAD_ENV = {
    v: "1"
    for v in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    )
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """How to start one server and talk to it."""

    name: str
    argv: list[str]
    path: str  # the prediction endpoint
    wrap: str  # "records" or "dataframe_records": the body's key for the rows
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    port: int = 0
    metrics_path: str | None = None
    workers: int = 0  # uvicorn workers: wait until this many listen, show how they split the load


FASTAPI_APP = """
import os, pickle
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from threadpoolctl import threadpool_limits

threadpool_limits(1)
with open(os.environ["BENCH_MODEL"], "rb") as f:
    model = pickle.load(f)
app = FastAPI()

@app.post("/predict")
async def predict(request: Request):
    body = await request.json()
    frame = pd.DataFrame.from_records(body["records"])
    proba = model.predict_proba(frame)
    return JSONResponse({
        "predictions": model.classes_[proba.argmax(axis=1)].tolist(),
        "probabilities": proba.tolist(),
    })
"""

BENTO_SERVICE = """
import os, pickle
import pandas as pd
import bentoml
from threadpoolctl import threadpool_limits

@bentoml.service(workers=2)
class Classifier:
    def __init__(self) -> None:
        threadpool_limits(1)
        with open(os.environ["BENCH_MODEL"], "rb") as f:
            self.model = pickle.load(f)

    @bentoml.api
    def predict(self, records: list) -> dict:
        frame = pd.DataFrame.from_records(records)
        proba = self.model.predict_proba(frame)
        return {"predictions": self.model.classes_[proba.argmax(axis=1)].tolist(),
                "probabilities": proba.tolist()}
"""

LITSERVE_APP = """
import os, pickle, sys
import pandas as pd
import litserve as ls
from threadpoolctl import threadpool_limits

class Api(ls.LitAPI):
    def setup(self, device):
        threadpool_limits(1)
        with open(os.environ["BENCH_MODEL"], "rb") as f:
            self.model = pickle.load(f)

    def decode_request(self, request):
        return pd.DataFrame.from_records(request["records"])

    def predict(self, frame):
        proba = self.model.predict_proba(frame)
        return {"predictions": self.model.classes_[proba.argmax(axis=1)].tolist(),
                "probabilities": proba.tolist()}

    def encode_response(self, output):
        return output

if __name__ == "__main__":
    server = ls.LitServer(Api(), accelerator="cpu", workers_per_device=2)
    server.run(port=int(sys.argv[1]), generate_client_file=False)
"""


def _installed(module: str, python: str) -> bool:
    return (
        subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, timeout=120
        ).returncode
        == 0
    )


def build(work: Path, anchor_python: dict[str, str]) -> tuple[list[Server], Any, list[str]]:
    """Train the model, register it, and describe every server; returns skipped reasons too."""
    import pickle

    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = make_classification(
        n_samples=5000, n_features=N_FEATURES, n_informative=12, n_classes=3, random_state=0
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(N_FEATURES)])
    model = HistGradientBoostingClassifier(random_state=0).fit(frame, y)
    model_file = work / "model.pkl"
    model_file.write_bytes(pickle.dumps(model))
    data_dir = work / "loopml"
    env_loopml = {"LOOPML_DIR": str(data_dir)}
    os.environ.update(env_loopml)
    import loopml.registry as reg

    print("model trained; registering and preparing the servers", flush=True)
    mv = reg.register("bench", model, example=frame[:5])
    reg.set_alias("bench", "champion", mv.version, reason="benchmark")
    loopml_cmd = [sys.executable, "-c", "from loopml.cli import main; main()", "serve"]
    servers = [
        Server(
            "loopml (log on)",
            [*loopml_cmd, "bench@champion", "--workers", "2", "--port", "{port}"],
            "/predict",
            "records",
            env_loopml,
            metrics_path="/metrics",
            workers=2,
        ),
        Server(
            "loopml (log off)",
            [*loopml_cmd, "bench@champion", "--workers", "2", "--no-log", "--port", "{port}"],
            "/predict",
            "records",
            env_loopml,
            metrics_path="/metrics",
            workers=2,
        ),
    ]
    (work / "fastapi_app.py").write_text(textwrap.dedent(FASTAPI_APP))
    servers.append(
        Server(
            "bare FastAPI (floor)",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "fastapi_app:app",
                "--workers",
                "2",
                "--port",
                "{port}",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            "/predict",
            "records",
            {"BENCH_MODEL": str(model_file)},
            cwd=str(work),
            workers=2,  # uvicorn's own: one socket shared by its workers
        )
    )
    skipped = []
    py = anchor_python.get("mlflow", sys.executable)
    if _installed("mlflow", py):
        mlflow_dir = work / "mlflow_model"
        saved = subprocess.run(
            [
                py,
                "-c",
                "import pickle, sys, mlflow.sklearn; "
                "mlflow.sklearn.save_model(pickle.load(open(sys.argv[1], 'rb')), sys.argv[2], "
                "serialization_format='cloudpickle')",
                str(model_file),
                str(mlflow_dir),
            ],
            capture_output=True,
            text=True,
        )
        if saved.returncode != 0:
            skipped.append(f"MLflow: saving the model failed: {saved.stderr.strip()[-400:]}")
        else:
            servers.append(
                Server(
                    "MLflow models serve",
                    [
                        str(Path(py).with_name("mlflow")),
                        "models",
                        "serve",
                        "-m",
                        str(mlflow_dir),
                        "--env-manager",
                        "local",
                        "--workers",
                        "2",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "{port}",
                    ],
                    "/invocations",
                    "dataframe_records",
                    {
                        "MLFLOW_TRACKING_URI": f"file://{work / 'mlruns'}",
                        # it starts ``uvicorn`` from PATH: the one next to its python
                        "PATH": f"{Path(py).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                    },
                )
            )
    else:
        skipped.append("MLflow: not installed (pip install -e '.[bench]')")
    py = anchor_python.get("bentoml", sys.executable)
    if _installed("bentoml", py):
        (work / "bento_service.py").write_text(textwrap.dedent(BENTO_SERVICE))
        servers.append(
            Server(
                "BentoML",
                [
                    str(Path(py).with_name("bentoml")),
                    "serve",
                    "bento_service:Classifier",
                    "--port",
                    "{port}",
                    "--host",
                    "127.0.0.1",
                ],
                "/predict",
                "records",
                {"BENCH_MODEL": str(model_file), "BENTOML_DO_NOT_TRACK": "True"},
                cwd=str(work),
                metrics_path="/metrics",
            )
        )
    else:
        skipped.append("BentoML: not installed (pip install -e '.[bench]')")
    py = anchor_python.get("litserve", sys.executable)
    if _installed("litserve", py):
        (work / "lit_app.py").write_text(textwrap.dedent(LITSERVE_APP))
        servers.append(
            Server(
                "LitServe",
                [py, "lit_app.py", "{port}"],
                "/predict",
                "records",
                {"BENCH_MODEL": str(model_file)},
                cwd=str(work),
            )
        )
    else:
        skipped.append("LitServe: not installed (pip install -e '.[bench]')")
    return servers, frame, skipped


def _post(port: int, path: str, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _get(port: int, path: str) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        return [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _workers(pid: int, port: int) -> dict[int, int]:
    """The processes under ``pid`` that listen on ``port``: their established connections."""
    import psutil

    found: dict[int, int] = {}
    for p in _tree(pid)[1:]:  # the children: a supervisor's copy of the socket is not a worker
        try:
            conns = [c for c in p.net_connections(kind="tcp") if c.laddr and c.laddr.port == port]
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN for c in conns):
            found[p.pid] = sum(c.status == psutil.CONN_ESTABLISHED for c in conns)
    return found


def _cpu(pid: int) -> dict[int, float]:
    import psutil

    out = {}
    for p in _tree(pid):
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        out[p.pid] = t.user + t.system
    return out


def start(server: Server, body: bytes) -> tuple[subprocess.Popen[bytes], float]:
    """Start ``server`` and wait until it answers a prediction; returns (process, cold start s).

    A server with ``workers`` is then given until every worker listens, so that a measured
    cell's connections can reach them all (the cold start is still the first answer)."""
    server.port = _free_port()
    argv = [a.replace("{port}", str(server.port)) for a in server.argv]
    env = {**os.environ, **THREAD_ENV, **server.env}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=server.cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = t0 + 120
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise RuntimeError(f"{server.name} exited: {err}")
        try:
            status, _ = _post(server.port, server.path, body, timeout=2)
            if status == 200:
                cold = time.perf_counter() - t0
                while server.workers and time.perf_counter() < deadline:
                    if len(_workers(proc.pid, server.port)) >= server.workers:
                        break
                    time.sleep(0.1)
                return proc, cold
        except OSError:
            pass
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{server.name} did not answer in 120 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def load(
    port: int, path: str, body_file: Path, conns: int, seconds: float, pid: int | None = None
) -> dict[str, Any]:
    """One cell: the load generator's figures; with the server's ``pid``, also how its workers
    split the connections (``split``) and its CPU ms per answered request (``cpu_ms``)."""
    argv = [
        sys.executable,
        str(HERE / "_loadgen.py"),
        "--url",
        f"http://127.0.0.1:{port}{path}",
        "--body",
        str(body_file),
        "-c",
        str(conns),
        "--seconds",
        str(seconds),
    ]
    cpu0 = _cpu(pid) if pid else {}
    gen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    split: list[int] = []
    if pid:
        # Keep-alive connections stay with the worker that took them: one look once all are
        # open tells the split for the whole cell.
        until = time.perf_counter() + seconds + 30
        while gen.poll() is None and time.perf_counter() < until:
            split = sorted(_workers(pid, port).values(), reverse=True)
            if sum(split) >= conns:
                break
            time.sleep(0.2)
    try:
        stdout, stderr = gen.communicate(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        gen.kill()
        stdout, stderr = gen.communicate()
    if gen.returncode != 0:
        return {"rps": 0.0, "p50": None, "p99": None, "codes": {"error": stderr[-300:]}}
    cell: dict[str, Any] = json.loads(stdout)
    if pid:
        cpu1 = _cpu(pid)
        spent = sum(t - cpu0.get(p, 0.0) for p, t in cpu1.items())
        cell["split"] = split
        cell["cpu_ms"] = 1000 * spent / cell["answered"] if cell.get("answered") else None
    return cell


def fmt(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "-"
    if cell.get("p50") is None:
        return "failed"
    bad = sum(v for k, v in cell["codes"].items() if k != "200")
    note = f" ({bad} non-200)" if bad else ""
    if cell.get("split"):
        note += f", split {'+'.join(map(str, cell['split']))}"
    if cell.get("cpu_ms") is not None:
        note += f", cpu {cell['cpu_ms']:.2f} ms/req"
    return f"{cell['rps']:,.0f}/s {cell['p50']:.1f} / {cell['p99']:.0f} ms{note}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell")
    ap.add_argument("--quick", action="store_true", help="single rows, 1 and 32 connections")
    ap.add_argument("--only", default="", help="comma-separated server names to run (substring)")
    ap.add_argument(
        "--cold-starts",
        type=int,
        default=0,
        metavar="N",
        help="only measure cold starts: N rounds, the servers interleaved; medians",
    )
    ap.add_argument(
        "--log-cost",
        type=int,
        default=0,
        metavar="N",
        help="only measure the prediction log's cost: N interleaved on/off pairs at 32 connections",
    )
    ap.add_argument(
        "--anchor-python",
        action="append",
        default=[],
        help="NAME=PYTHON: run an anchor (mlflow, bentoml, litserve) from another venv",
    )
    args = ap.parse_args()
    anchor_python = dict(a.split("=", 1) for a in args.anchor_python)
    conns = [1, 32] if args.quick else [1, 8, 32]
    sizes = [1] if args.quick else [1, 100]
    print_machine("serving benchmark")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        servers, frame, skipped = build(work, anchor_python)
        if args.only:
            wanted = [w.strip().lower() for w in args.only.split(",")]
            servers = [s for s in servers if any(w in s.name.lower() for w in wanted)]
        if args.cold_starts > 0:
            _cold_starts(servers, frame, args.cold_starts)
            return
        if args.log_cost > 0:
            _log_cost(work, servers, frame, args.log_cost, args.seconds)
            return
        results: dict[str, dict[tuple[int, int], dict[str, Any]]] = {}
        extra: dict[str, dict[str, str]] = {}
        for server in servers:
            bodies = {}
            for n in sizes:
                rows = frame.sample(n, random_state=n).to_dict("records")
                path = work / f"{server.wrap}-{n}.json"
                path.write_text(json.dumps({server.wrap: rows}))
                bodies[n] = path
            try:
                proc, cold = start(server, bodies[1].read_bytes())
            except RuntimeError as exc:
                skipped.append(f"{server.name}: {exc}")
                continue
            try:
                cells = results.setdefault(server.name, {})
                for n in sizes:
                    for c in conns:
                        cells[(n, c)] = load(
                            server.port,
                            server.path,
                            bodies[n],
                            c,
                            args.seconds,
                            proc.pid if server.workers else None,
                        )
                        print(
                            f"  {server.name:24} rows={n:<3} conns={c:<2} {fmt(cells[(n, c)])}",
                            flush=True,
                        )
                bad_rows = frame[:1].drop(columns=["f3"]).to_dict("records")
                status, text = _post(
                    server.port, server.path, json.dumps({server.wrap: bad_rows}).encode()
                )
                named = "f3" in text.decode(errors="replace")
                metrics = _get(server.port, server.metrics_path) if server.metrics_path else 404
                extra[server.name] = {
                    "cold start": f"{cold:.1f} s",
                    "missing column": f"{status}{' names it' if named else ''}",
                    "metrics": "yes" if metrics == 200 else "no",
                }
            finally:
                stop(proc)
        _print(results, extra, sizes, conns, skipped)


def _cold_starts(servers: list[Server], frame: Any, rounds: int) -> None:
    """Start and stop every server ``rounds`` times, interleaved (each round in the other order,
    so drift in the machine's load falls on all alike); print each one's median and range."""
    import statistics

    body = json.dumps({"records": frame.sample(1, random_state=1).to_dict("records")}).encode()
    times: dict[str, list[float]] = {s.name: [] for s in servers}
    for i in range(rounds):
        for server in servers if i % 2 == 0 else servers[::-1]:
            wrapped = json.dumps({server.wrap: json.loads(body)["records"]}).encode()
            try:
                proc, cold = start(server, wrapped)
            except RuntimeError as exc:
                print(f"  {server.name}: {exc}")
                continue
            stop(proc)
            times[server.name].append(cold)
            print(f"  round {i + 1}: {server.name:24} {cold:.2f} s", flush=True)
    print(
        f"cold start, process start to the first answer ({rounds} rounds, load average {os.getloadavg()[0]:.1f})"
    )
    for name, got in times.items():
        if got:
            print(
                f"  {name:24} median {statistics.median(got):.2f} s "
                f"(min {min(got):.2f}, max {max(got):.2f})"
            )


def _log_cost(work: Path, servers: list[Server], frame: Any, rounds: int, seconds: float) -> None:
    """loopml with the log on and off, ``rounds`` interleaved pairs at 32 connections, single rows.

    Each start waits until both workers listen and runs one discarded warm-up cell (the
    writer's one-time imports, the first parts), so the pair compares steady states. Two
    summaries: requests/s, as the median of each round's on/off ratio (the two cells of a round
    ran a minute apart, so drift in the machine's load mostly cancels; the medians of all on
    and of all off cells do not pair them and move with that drift), and the server's CPU time
    per answered request, which other programs on the machine move much less. Each cell shows
    how the workers split its 32 connections.
    """
    import statistics

    pair = [s for s in servers if s.name.startswith("loopml (log")]
    path = work / "log-cost.json"
    path.write_text(json.dumps({"records": frame.sample(1, random_state=1).to_dict("records")}))
    cells: dict[str, list[dict[str, Any]]] = {s.name: [] for s in pair}
    rate_ratios: list[float] = []
    cpu_ratios: list[float] = []
    for i in range(rounds):
        got: dict[str, dict[str, Any]] = {}
        for server in pair if i % 2 == 0 else pair[::-1]:
            proc, _ = start(server, path.read_bytes())
            try:
                load(server.port, server.path, path, 32, max(seconds, 6.0))  # warm-up
                cell = load(server.port, server.path, path, 32, seconds, proc.pid)
            finally:
                stop(proc)
            got[server.name] = cell
            cells[server.name].append(cell)
            print(f"  round {i + 1}: {server.name:24} {fmt(cell)}", flush=True)
        on, off = got.get("loopml (log on)"), got.get("loopml (log off)")
        if on and off and on["rps"] and off["rps"]:
            rate_ratios.append(on["rps"] / off["rps"])
            if on.get("cpu_ms") and off.get("cpu_ms"):
                cpu_ratios.append(off["cpu_ms"] / on["cpu_ms"])
    print(
        f"prediction log cost, 32 connections, single rows ({rounds} interleaved pairs, "
        f"load average {os.getloadavg()[0]:.1f})"
    )

    def spread(values: list[float], unit: str, digits: int = 0) -> str:
        return (
            f"median {statistics.median(values):,.{digits}f}{unit} "
            f"(min {min(values):,.{digits}f}, max {max(values):,.{digits}f})"
        )

    print("  requests/s (wall clock: moved by whatever else the machine runs)")
    for name, got_cells in cells.items():
        rates = [c["rps"] for c in got_cells]
        if rates:
            print(f"    {name:24} {spread(rates, ' req/s')}")
    if rate_ratios:
        cost = 1 - statistics.median(rate_ratios)
        print(
            f"    on/off, median of the {len(rate_ratios)} pairs: "
            f"{spread(rate_ratios, '', 3)} -> the log costs {cost:+.1%} of throughput "
            "(target <= 5%; this, not the ratio of the medians above, pairs like with like)"
        )
    print("  server CPU per answered request (all its processes; less moved by the machine's load)")
    for name, got_cells in cells.items():
        cpu = [c["cpu_ms"] for c in got_cells if c.get("cpu_ms")]
        if cpu:
            print(f"    {name:24} {spread(cpu, ' ms', 3)}")
    if cpu_ratios:
        cost = 1 - statistics.median(cpu_ratios)
        print(
            f"    off/on, median of the {len(cpu_ratios)} pairs: {spread(cpu_ratios, '', 3)} "
            f"-> the log costs {cost:+.1%} of the throughput the CPU allows (target <= 5%)"
        )
    print("  connections per worker (the busier worker's share of 32)")
    for name, got_cells in cells.items():
        busier = [c["split"][0] for c in got_cells if c.get("split")]
        if busier:
            print(f"    {name:24} {spread([float(b) for b in busier], ' of 32')}")


def _print(
    results: dict[str, dict[tuple[int, int], dict[str, Any]]],
    extra: dict[str, dict[str, str]],
    sizes: list[int],
    conns: list[int],
    skipped: list[str],
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    for n in sizes:
        table = Table(
            title=f"{'single rows' if n == 1 else f'batches of {n}'}: req/s, p50 / p99",
            show_lines=True,
        )
        table.add_column("server")
        for c in conns:
            table.add_column(f"{c} conn{'s' if c > 1 else ''}", justify="right")
        for name, cells in results.items():
            table.add_row(name, *(fmt(cells.get((n, c))) for c in conns))
        console.print(table)
    table = Table(title="behaviour", show_lines=True)
    table.add_column("server")
    for col in ("cold start", "missing column", "metrics"):
        table.add_column(col)
    for name, row in extra.items():
        table.add_row(name, row["cold start"], row["missing column"], row["metrics"])
    console.print(table)
    on, off = results.get("loopml (log on)", {}), results.get("loopml (log off)", {})
    floor = results.get("bare FastAPI (floor)", {})
    top = max(conns)
    if on.get((1, top)) and floor.get((1, top)):
        print(
            f"loopml (log on) / floor at {top} connections, single rows: "
            f"{on[(1, top)]['rps'] / max(floor[(1, top)]['rps'], 1e-9):.2f}x (target 3x)"
        )
    if on.get((1, 1)) and floor.get((1, 1)) and floor[(1, 1)]["p50"]:
        print(
            f"loopml p50 / floor p50 at 1 connection: "
            f"{on[(1, 1)]['p50'] / floor[(1, 1)]['p50']:.2f}x (target <= 1.2x)"
        )
    if on.get((1, top)) and off.get((1, top)):
        cost = 1 - on[(1, top)]["rps"] / max(off[(1, top)]["rps"], 1e-9)
        print(f"prediction log cost at {top} connections: {cost:+.1%} of throughput (target <= 5%)")
    cold = {name: float(row["cold start"].split()[0]) for name, row in extra.items()}
    if "loopml (log on)" in cold and "bare FastAPI (floor)" in cold:
        print(
            f"cold start, process start to the first answer: loopml {cold['loopml (log on)']:.1f} s, "
            f"floor {cold['bare FastAPI (floor)']:.1f} s "
            f"({cold['loopml (log on)'] / max(cold['bare FastAPI (floor)'], 1e-9):.2f}x; target < 2 s)"
        )
    for name, cells in results.items():
        if name.startswith("loopml") or not cells.get((1, top)) or not on.get((1, top)):
            continue
        print(
            f"loopml (log on) / {name} at {top} connections: "
            f"{on[(1, top)]['rps'] / max(cells[(1, top)]['rps'], 1e-9):.2f}x"
        )
    for s in skipped:
        print(f"skipped: {s}")


if __name__ == "__main__":
    main()
