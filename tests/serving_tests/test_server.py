"""The real server (``loopml serve`` in a subprocess): SIGKILL during traffic loses no answered
prediction; several workers add up their metrics, each listens on a socket of its own and gets
connections; it binds to loopback unless told otherwise."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

import loopml.serving
from loopml import NotFoundError, ValidationError
from loopml._net import check_port

from .conftest import COLUMNS

GOOD = {c: 0.25 for c in COLUMNS}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(session: object, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    settings = session.settings  # type: ignore[attr-defined]
    port = _free_port()
    env = {**os.environ, "LOOPML_DIR": str(settings.data_dir), "LOOPML_FLUSH_INTERVAL": "0.2"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from loopml.cli import main; main()",
            "serve",
            "m@champion",
            "--port",
            str(port),
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so the test can kill all its workers
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode())  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not become ready in 90 s")


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)


@pytest.mark.slow
def test_sigkill_during_traffic_loses_no_answered_prediction(
    session: object, model: object, stopper: list
) -> None:
    proc, url = _start(session)
    stopper.append(proc)
    answered: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(base_url=url, timeout=5) as c:
            while not stop.is_set():
                try:
                    r = c.post("/predict", json={"records": [GOOD, GOOD]})
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200:
                    answered.extend(r.json()["ids"])

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    while len(answered) < 300:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-traffic, no chance to flush
    proc.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join()
    loopml.serving.recover_log("m")  # what a restarted server does first
    logged = set(loopml.serving.predictions("m")["id"])
    missing = [i for i in answered if i not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} answered predictions were lost"
    assert len(logged) == len(set(logged))


@pytest.mark.slow
def test_two_workers_add_up_their_metrics(session: object, model: object, stopper: list) -> None:
    proc, url = _start(session, "--workers", "2")
    stopper.append(proc)
    for _ in range(30):
        # A new connection each time, so both workers get some.
        r = httpx.post(f"{url}/predict", json={"records": [GOOD]}, timeout=10)
        assert r.status_code == 200
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(r'loopml_requests_total\{endpoint="/predict",status="200"\} (\S+)', text)
    assert found is not None and float(found.group(1)) == 30
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    # A clean stop writes every answer out and leaves no journal behind.
    df = loopml.serving.predictions("m")
    assert len(df) == 30
    store = session.store  # type: ignore[attr-defined]
    assert list(store.predictions.journal_dir("m").glob("*.journal")) == []


def test_it_binds_loopback_unless_told_and_names_unknown_models(
    session: object, model: object
) -> None:
    with pytest.raises(ValidationError, match="--allow-remote"):
        loopml.serving.serve("m@champion", host="0.0.0.0", port=0)
    with pytest.raises(NotFoundError, match=r"no alias 'prod'.*@champion -> 1"):
        loopml.serving.serve("m@prod", port=0)
    with pytest.raises(NotFoundError, match="did you mean 'm'"):
        loopml.serving.serve("mm@champion", port=0)


def _listening(pid: int, port: int) -> set[str]:
    """The sockets (``socket:[inode]``) process ``pid`` listens on at ``port``."""
    import psutil

    found = set()
    try:  # a worker just killed, or exiting, listens on nothing
        for c in psutil.Process(pid).net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.fd != -1:
                found.add(os.readlink(f"/proc/{pid}/fd/{c.fd}"))
    except (psutil.Error, OSError):
        return set()
    return found


def _worker_pids(supervisor: int, port: int) -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process(supervisor).children() if _listening(p.pid, port)]


def _wait_for_workers(supervisor: int, port: int, n: int) -> list[int]:
    deadline = time.monotonic() + 90
    while len(workers := _worker_pids(supervisor, port)) < n:
        assert time.monotonic() < deadline, f"{n} workers did not listen in 90 s"
        time.sleep(0.2)
    return workers


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads on Linux")
def test_each_worker_listens_on_its_own_socket_and_both_get_connections(
    session: object, model: object, stopper: list
) -> None:
    import http.client

    import psutil

    proc, url = _start(session, "--workers", "2")
    stopper.append(proc)
    port = int(url.rsplit(":", 1)[1])
    # The first answer came from one worker; the other may still be starting.
    workers = _wait_for_workers(proc.pid, port, 2)
    # Not one socket shared by both (which the first to wake empties of every waiting
    # connection), and the supervisor, which holds the port, listens on none.
    assert len(workers) == 2
    assert _listening(workers[0], port).isdisjoint(_listening(workers[1], port))
    assert _listening(proc.pid, port) == set()
    # 64 clients each ask once and stay connected. The kernel picks a worker's socket by a hash
    # of the client's port: all 64 on one of the two would happen once in 2**63 runs.
    clients = []
    for _ in range(64):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/health")
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200
        clients.append(conn)
    held = {
        pid: sum(
            c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
            for c in psutil.Process(pid).net_connections(kind="tcp")
        )
        for pid in workers
    }
    for conn in clients:
        conn.close()
    assert sum(held.values()) == 64 and min(held.values()) > 0, held
    # A worker that dies is replaced by one that listens on a socket of its own again.
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 90
    while workers[0] in (now := _worker_pids(proc.pid, port)) or len(now) < 2:
        assert time.monotonic() < deadline, "the killed worker was not replaced in 90 s"
        time.sleep(0.2)
    assert workers[1] in now
    assert _listening(now[0], port).isdisjoint(_listening(now[1], port))
    assert httpx.post(f"{url}/predict", json={"records": [GOOD]}, timeout=10).status_code == 200
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: both workers and the supervisor stop
    assert proc.wait(timeout=60) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads on Linux")
def test_the_worker_socket_arrives_in_each_worker_as_a_socket_of_its_own() -> None:
    import io
    import pickle
    from multiprocessing.reduction import ForkingPickler

    from loopml import LoopmlError
    from loopml._net import worker_socket

    held = worker_socket("127.0.0.1", 0)
    port = held.getsockname()[1]
    own = []
    for _ in range(2):  # as uvicorn hands its sockets to each spawned worker
        buf = io.BytesIO()
        ForkingPickler(buf).dump([held])
        (sock,) = pickle.loads(buf.getvalue())
        assert sock.fileno() != held.fileno() and sock.getsockname() == ("127.0.0.1", port)
        sock.listen()
        sock.setblocking(False)
        own.append(sock)
    clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(64)]
    accepted = []
    for sock in own:
        n = 0
        while True:
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                break
            conn.close()
            n += 1
        accepted.append(n)
    # Spread by a hash of each client's port: all 64 on one socket, once in 2**63 runs.
    assert sum(accepted) == 64 and min(accepted) > 0, accepted
    # The port is taken for anyone who does not ask to share it (another loopml serve checks).
    with pytest.raises(LoopmlError, match="cannot listen"):
        check_port("127.0.0.1", port)
    for s in [*clients, *own, held]:
        s.close()
