"""The one real two-node Ray cluster the sweeps, serving and monitoring tests run on.

A test calls :func:`run_driver` with a driver module; the driver runs inside ``unshare -n`` (a
fresh network namespace holding only loopback, so nothing Ray opens reaches past this machine),
starts the cluster with :func:`two_node_cluster`, does its work, and prints one ``RESULT {json}``
line that :func:`run_driver` parses. Every process in that namespace is one the driver started,
so stopping "all processes in our namespace except us" stops exactly our Ray processes (never
``ray stop``, which would stop a developer's own cluster).
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
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))


def can_unshare() -> str | None:
    """None when ``unshare -n`` works here, else why not (the tests skip with that reason)."""
    try:
        done = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unshare is not available: {exc}"
    if done.returncode != 0:
        return f"unshare -n is not permitted here: {done.stderr.strip()}"
    return None


def run_driver(
    module: str, tmp_path: Path, *, env: dict[str, str] | None = None, timeout: float = 450
) -> dict[str, Any]:
    """Run ``python -m module`` inside ``unshare -n`` in ``tmp_path``; its RESULT as a dict.

    Skips the test (saying why) where network namespaces are not permitted; fails it with the
    driver's output when the driver crashed or reported an error."""
    reason = can_unshare()
    if reason is not None:
        print(f"SKIPPED Ray cluster test: {reason}")
        pytest.skip(reason)
    full_env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "HOME": str(tmp_path),  # Ray's auth token and caches stay in this test's folder
        **(env or {}),
    }
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", module],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    assert "error" not in result, result["error"] + done.stderr[-3000:]
    return result


# --- inside the namespace -------------------------------------------------------------------


def our_pids() -> list[int]:
    """Every process in this network namespace except this one."""
    me, out = os.readlink("/proc/self/ns/net"), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if os.readlink(entry / "ns/net") == me:
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def children(pid: int) -> list[int]:
    """The descendants of ``pid`` in this namespace."""
    found = []
    for p in our_pids():
        try:
            ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found += [p, *children(p)]
    return found


def ray_start(*args: str) -> None:
    """``ray start ARGS``, failing with its output."""
    done = subprocess.run([RAY, "start", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"ray start {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )


@contextlib.contextmanager
def two_node_cluster(port: int, node2_port: int, **env: str) -> Iterator[str]:
    """Start a head and a second node (one CPU each) on 127.0.0.1; yield the address; kill both.

    Token auth with a token made for this cluster only; ``env`` adds Ray settings."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    os.environ.update(
        RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32)
    )
    os.environ.update(env)
    try:
        common = ["--num-cpus=1", "--disable-usage-stats"]
        ray_start(
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--include-dashboard=false",
            *common,
        )
        ray_start(f"--address=127.0.0.1:{port}", f"--node-manager-port={node2_port}", *common)
        yield f"127.0.0.1:{port}"
    finally:
        for p in our_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        # ``ray start --head`` leaves the cluster's address for later ``ray.init()`` calls.
        marker = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if marker.exists() and f":{port}" in marker.read_text():
            marker.unlink()


def drive(body: Callable[[dict[str, Any]], None]) -> None:
    """A driver's ``__main__``: run ``body(result)``, put any traceback in the result, print it
    as the RESULT line and exit without Ray's exit hooks (they wait a minute for the killed GCS)."""
    result: dict[str, Any] = {}
    try:
        body(result)
    except Exception:
        result["error"] = traceback.format_exc()[-4000:]
    print("RESULT " + json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)
