"""Team server ingest: loopml server vs ``mlflow server``, both on the same PostgreSQL.

Aggregate ingest from 8 and 64 concurrent client processes (forked from this one, so they share
its imported code): loopml clients call ``run.log()`` and ``finish()`` (the journal ships
compressed segments to the server); MLflow clients call the stock client's ``log_batch`` with
1,000 points a call for a fixed time (capped; the rate is what was acknowledged in that time).
Points lost = acknowledged but not stored. Server RSS = the server process tree's resident
memory at its peak. Then one client's ``log()`` latency with the server up, stopped (SIGSTOP:
slow to the point of not answering) and killed.

    python benchmarks/server.py [--pg-url URL] [--points N] [--mlflow-seconds S] [--clients 8,64]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import Row, fmt_rate, fmt_ratio, print_machine, print_table, temp_dir

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception as exc:  # HTTP errors still mean it answers
            if hasattr(exc, "code"):
                return
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of live processes (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / tick


def _wait_idle(pid: int, timeout: float = 120) -> None:
    """Wait until a process tree stops using CPU (every worker has finished starting: a worker
    still importing would otherwise be counted, and compete, in the measured run)."""
    deadline = time.monotonic() + timeout
    last = _cpu_seconds(_tree_pids(pid))
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_seconds(_tree_pids(pid))
        if now - last < 0.05:
            return
        last = now


def _tree_pids(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _pg_backends(url: str, db: str) -> list[int]:
    """PIDs of the PostgreSQL backends connected to ``db`` (the server's connection pool)."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (db,),
        ).fetchall()
    return [r[0] for r in rows]


class PeakRss:
    """Samples a process tree's RSS every 0.2 s; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, _tree_rss(self.pid))
            time.sleep(0.2)

    def stop(self) -> int:
        self._stop = True
        self._t.join()
        return self.peak


def _database(pg_url: str, name: str, drop: bool = False) -> str:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url.rsplit("/", 1)[0] + "/" + name


# -- loopml -------------------------------------------------------------------------------------
def _loopml_client(url: str, token: str, folder: str, n: int, go: Any, out: Any) -> None:
    # The default flush interval (1 s): each upload carries what one second of log() calls wrote.
    os.environ.update(LOOPML_DIR=folder, LOOPML_TRACKING_URI=url, LOOPML_TOKEN=token)
    os.environ.pop("LOOPML_FLUSH_INTERVAL", None)
    import loopml

    run = loopml.init(project="bench")
    out.put(None)  # ready: the clock starts once every client is
    go.wait()
    t0, cpu0 = time.time(), time.process_time()
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1)}, step=i)
    run.finish()
    out.put((run.id, t0, time.time(), time.process_time() - cpu0))


@dataclass
class _LoopmlServer:
    """``loopml server`` on a new database holding a member and a token."""

    db: str
    url: str
    store: Any
    token: str
    port: int
    process: subprocess.Popen[bytes]


def _loopml_server(pg_url: str, prefix: str, folder: Path, workers: int = 1) -> _LoopmlServer:
    from loopml._config import Settings
    from loopml.store import Store

    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = _database(pg_url, db)
    store = Store(Settings(data_dir=folder, store_url=url))
    store.users.add("bench", "member")
    token = store.users.create_token("bench")
    port = _port()
    argv = [str(BIN / "loopml"), "server", "--store", url, "--artifacts", str(folder)]
    argv += ["--port", str(port)] + (["--workers", str(workers)] if workers > 1 else [])
    process = subprocess.Popen(argv, start_new_session=True)
    return _LoopmlServer(db, url, store, token, port, process)


def bench_loopml(pg_url: str, clients: int, points: int, tmp: Path) -> dict[str, Any]:
    srv = _loopml_server(pg_url, "loopml_bench", tmp / "srv", workers=2)
    db, url, store, token, port, server = (
        srv.db, srv.url, srv.store, srv.token, srv.port, srv.process
    )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/login")
        rss = PeakRss(server.pid)
        ctx = mp.get_context("fork")
        go, out = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(
                target=_loopml_client,
                args=(f"http://127.0.0.1:{port}", token, str(tmp / f"c{i}"), points, go, out),
            )
            for i in range(clients)
        ]
        for p in procs:
            p.start()
        for _ in procs:  # every client has its run before the clock starts
            out.get(timeout=600)
        _wait_idle(server.pid)  # and the server's workers are idle again
        server_cpu0 = _cpu_seconds(_tree_pids(server.pid))
        pg_cpu0 = {p: _cpu_seconds([p]) for p in _pg_backends(url, db)}
        start = time.time()
        go.set()
        results = [out.get(timeout=600) for _ in procs]
        end = max(r[2] for r in results)
        server_cpu = _cpu_seconds(_tree_pids(server.pid)) - server_cpu0
        # Backends the pool opened during the run started from zero.
        pg_cpu = sum(_cpu_seconds([p]) - pg_cpu0.get(p, 0.0) for p in _pg_backends(url, db))
        clients_cpu = sum(r[3] for r in results)
        for p in procs:
            p.join()
        peak = rss.stop()
        stored = sum(r.metrics["loss"].count for r in store.runs.search("bench", limit=None))
        million = clients * points / 1e6
        return {
            "rate": clients * points / (end - start),
            "lost": clients * points - stored,
            "rss": peak,
            "cpu": (server_cpu / million, pg_cpu / million, clients_cpu / million),
            "load": os.getloadavg()[0],
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        store.close()
        _database(pg_url, db, drop=True)


# -- MLflow -------------------------------------------------------------------------------------
def _mlflow_client(url: str, exp: str, seconds: float, go: Any, out: Any) -> None:
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    run = client.create_run(exp).info.run_id
    go.wait()
    acked, failed, step = 0, 0, 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        now = int(time.time() * 1000)
        batch = [Metric("loss", 1.0 / (step + i + 1), now, step + i) for i in range(1000)]
        try:
            client.log_batch(run, metrics=batch)
            acked += 1000
        except Exception:
            failed += 1
        step += 1000
    out.put((run, acked, failed))


def bench_mlflow(pg_url: str, clients: int, seconds: float, tmp: Path) -> dict[str, Any]:
    db = f"mlflow_bench_{uuid.uuid4().hex[:8]}"
    url = _database(pg_url, db)
    port = _port()
    server = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            url,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--default-artifact-root",
            str(tmp / "mlart"),
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", timeout=180)
        from mlflow.tracking import MlflowClient

        exp = MlflowClient(tracking_uri=f"http://127.0.0.1:{port}").create_experiment("bench")
        rss = PeakRss(server.pid)
        ctx = mp.get_context("fork")
        go, out = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(
                target=_mlflow_client, args=(f"http://127.0.0.1:{port}", exp, seconds, go, out)
            )
            for _ in range(clients)
        ]
        for p in procs:
            p.start()
        time.sleep(2.0 + clients * 0.1)
        _wait_idle(server.pid, timeout=30)
        server_cpu0 = _cpu_seconds(_tree_pids(server.pid))
        start = time.time()
        go.set()
        results = [out.get(timeout=600) for _ in procs]
        wall = time.time() - start
        server_cpu = _cpu_seconds(_tree_pids(server.pid)) - server_cpu0
        for p in procs:
            p.join()
        peak = rss.stop()
        import psycopg

        with psycopg.connect(url) as conn:
            stored = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
        acked = sum(r[1] for r in results)
        return {
            "rate": acked / wall,
            "lost": max(0, acked - stored),
            "extra": max(0, stored - acked),
            "failed": sum(r[2] for r in results),
            "rss": peak,
            "server_cpu": server_cpu / max(acked / 1e6, 1e-9),
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        _database(pg_url, db, drop=True)


# -- log() latency while the server is up, stopped, killed ---------------------------------------
def bench_latency(pg_url: str, tmp: Path, n: int) -> dict[str, list[float]]:
    from loopml._config import Settings

    srv = _loopml_server(pg_url, "loopml_lat", tmp / "lat")
    db, store, token, port, server = srv.db, srv.store, srv.token, srv.port, srv.process
    out: dict[str, list[float]] = {}
    try:
        _wait_http(f"http://127.0.0.1:{port}/login")
        from loopml.tracking import Session

        session = Session(
            Settings(
                data_dir=tmp / "latc",
                flush_interval=0.05,
                tracking_uri=f"http://127.0.0.1:{port}",
                token=token,
            )
        )
        run = session.start_run("lat", lazy=True)
        step = 0
        for phase in ("server up", "server stopped (SIGSTOP)", "server killed"):
            if phase.startswith("server stopped"):
                os.killpg(server.pid, signal.SIGSTOP)
            if phase == "server killed":
                os.killpg(server.pid, signal.SIGCONT)
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            times = []
            for _ in range(n):
                t = time.perf_counter_ns()
                run.log({"x": 1.0}, step=step)
                times.append((time.perf_counter_ns() - t) / 1000)
                step += 1
            out[phase] = times
        return out
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGCONT)
            os.killpg(server.pid, signal.SIGKILL)
        store.close()
        time.sleep(0.5)
        _database(pg_url, db, drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--pg-url",
        default=os.environ.get(
            "LOOPML_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    ap.add_argument("--clients", default="8,64")
    ap.add_argument(
        "--points",
        type=int,
        default=0,
        help="points per loopml client (default: 400,000 / clients)",
    )
    ap.add_argument("--total", type=int, default=400_000)
    ap.add_argument("--mlflow-seconds", type=float, default=8.0)
    ap.add_argument("--latency-calls", type=int, default=100_000)
    a = ap.parse_args()
    # Imported before forking, so the client processes share these pages instead of each
    # importing its own copy (64 clients would otherwise need several GB).
    import mlflow.tracking  # noqa: F401

    import loopml.tracking  # noqa: F401

    print_machine("server benchmark")
    rows: list[Row] = []
    with temp_dir("bench-server-") as tmp:
        for clients in [int(c) for c in a.clients.split(",")]:
            n = a.points or a.total // clients
            ours = bench_loopml(a.pg_url, clients, n, tmp / f"l{clients}")
            theirs = bench_mlflow(a.pg_url, clients, a.mlflow_seconds, tmp / f"m{clients}")
            rows.append(
                Row(
                    f"{clients} clients: aggregate points/s stored (loopml log() x {n:,} each; "
                    "MLflow log_batch x 1,000)",
                    fmt_rate(ours["rate"], " pts/s"),
                    fmt_rate(theirs["rate"], " pts/s"),
                    fmt_ratio(ours["rate"], theirs["rate"]),
                    ">= 20x, >= 170,000/s",
                    ours["rate"] >= 170_000 and ours["rate"] >= 20 * theirs["rate"],
                    [
                        f"MLflow capped at {a.mlflow_seconds:.0f} s of calls; {theirs['failed']} calls failed"
                    ],
                )
            )
            server_cpu, pg_cpu, clients_cpu = ours["cpu"]
            rows.append(
                Row(
                    f"{clients} clients: CPU seconds per million points (server workers)",
                    f"{server_cpu:.2f} s",
                    f"{theirs['server_cpu']:.2f} s",
                    fmt_ratio(server_cpu, theirs["server_cpu"], higher_is_better=False),
                    "-",
                    None,
                    [
                        f"loopml: PostgreSQL backends {pg_cpu:.2f} s, clients {clients_cpu:.2f} s "
                        f"(log(), journal, upload); 1-min load {ours['load']:.1f} at the end; "
                        "MLflow: server only",
                    ],
                )
            )
            rows.append(
                Row(
                    f"{clients} clients: points lost",
                    str(ours["lost"]),
                    f"{theirs['lost']} (+{theirs['extra']} stored twice)",
                    "-",
                    "0",
                    ours["lost"] == 0,
                    [],
                )
            )
            rows.append(
                Row(
                    f"{clients} clients: server RSS (peak, 2 workers)",
                    f"{ours['rss'] / 2**20:,.0f} MiB",
                    f"{theirs['rss'] / 2**20:,.0f} MiB",
                    fmt_ratio(ours["rss"], theirs["rss"], higher_is_better=False),
                    "< 1 GiB",
                    ours["rss"] < 2**30,
                    [],
                )
            )
        lat = bench_latency(a.pg_url, tmp, a.latency_calls)
        for phase, times in lat.items():
            times.sort()
            rows.append(
                Row(
                    f"one client's log() latency, {phase}",
                    f"median {statistics.median(times):.2f} us, p99 {times[int(len(times) * 0.99)]:.2f} us",
                    "-",
                    "-",
                    "unchanged",
                    None,
                    [f"{len(times):,} calls"],
                )
            )
    print_table(rows, "loopml server vs mlflow server (same PostgreSQL)", theirs="MLflow")


if __name__ == "__main__":
    main()
