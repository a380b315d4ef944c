"""``loopml serve``: run the model server under uvicorn (one or several worker processes)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml._net import check_port, is_loopback, worker_socket
from loopml.serving._app import CONFIG_ENV, ServeConfig
from loopml.serving._handoff import (
    FLAVORS_ENV,
    HANDOFF_ENV,
    VERSIONS_ENV,
    hand_off,
    write_failure,
    write_hand_off,
)

if TYPE_CHECKING:
    from loopml.registry import ModelVersion

__all__ = ["check_servable", "is_loopback", "serve"]

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def check_servable(ref: str) -> ModelVersion:
    """The version ``ref`` names now; fails with a readable message if it cannot be served
    (unknown, no signature).

    Read with :func:`loopml.registry.peek`: a SQLite store is read without SQLAlchemy, which
    would cost this process ~0.25 CPU s beside its starting workers; the errors are ``get``'s.
    """
    import loopml.registry as reg

    mv = reg.peek(ref)
    if mv.signature is None:
        raise ValidationError(
            f"model {mv.ref} has no input signature, so requests cannot be checked; register "
            "it again with example=<a few input rows>"
        )
    return mv


def serve(
    ref: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    shadow: str | None = None,
    log: bool = True,
    trust: bool = False,
    threads: int = 1,
    max_body_bytes: int = 4 << 20,
    allow_remote: bool = False,
    log_level: str = "warning",
    hooks: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Serve ``ref`` (``name@alias`` or ``name/3``) on ``host:port`` until Ctrl-C.

    The server has no authentication, so it binds to loopback unless ``allow_remote``.
    ``hooks``: background services every worker starts (``loopml serve`` adds the monitor's).
    """
    import uvicorn

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"workers must be a positive integer, not {workers!r}")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValidationError(f"port must be an integer from 0 to 65535, not {port!r}")
    if not is_loopback(host) and not allow_remote:
        raise ValidationError(
            f"refusing to serve on {host!r}: the model server has no authentication, so it "
            "binds to 127.0.0.1 only; pass --allow-remote to expose it on purpose"
        )
    config = ServeConfig(
        ref=ref,
        shadow=shadow,
        log=log,
        trust=trust,
        threads=threads,
        max_body_bytes=max_body_bytes,
        hooks=dict(hooks or {}),
    )
    models = [ref, *([shadow] if shadow else [])]
    if workers == 1:  # the one worker is this process: check, then serve
        found = {m: check_servable(m) for m in models}
    port = check_port(host, port)
    shown = f"[{host}]" if ":" in host else host
    banner = (
        f"loopml serving {ref} at http://{shown}:{port}/predict "
        f"({workers} worker{'s' if workers > 1 else ''}; Ctrl-C to stop)"
    )
    before = dict(os.environ)
    # Every worker writes its metric values here; /metrics adds them up (multiprocess mode).
    metrics_dir = tempfile.mkdtemp(prefix="loopml-metrics-")
    try:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ[CONFIG_ENV] = config.to_env()
        for var in _THREAD_VARS:  # the workers' BLAS/OpenMP pools, before they import numpy
            os.environ[var] = str(threads)
        if workers == 1:
            os.environ.update(hand_off(found))
            print(banner, flush=True)
            uvicorn.run(_APP, factory=True, workers=1, **_uvicorn_options(host, port, log_level))
        else:
            _serve_while_checking(models, workers, banner, Path(metrics_dir), host, port, log_level)
    except KeyboardInterrupt:
        pass
    except BaseException:
        # A server that did not start leaves the caller's environment as it found it.
        os.environ.clear()
        os.environ.update(before)
        raise
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


_APP = "loopml.serving._app:app_from_env"


def _uvicorn_options(host: str, port: int, log_level: str) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }


def _serve_while_checking(
    models: list[str],
    workers: int,
    banner: str,
    run_dir: Path,
    host: str,
    port: int,
    log_level: str,
) -> None:
    """Run uvicorn's workers while this process checks ``models`` beside them.

    Starting a worker costs ~1.5 CPU s of imports before it needs its model; the check costs
    this process a few CPU ms from a SQLite store (``check_servable``), ~0.3 CPU s when it opens
    the SQL store (PostgreSQL; SQLAlchemy, the registry's query). Done one after the other, the
    workers waited for the check; here the check runs in a thread as they start, and hands the
    versions it found over through a file each worker waits for when it comes to load its
    model. A failed check stops the workers and raises its error here, as before.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    handoff = run_dir / "handoff.json"
    os.environ[HANDOFF_ENV] = str(handoff)
    os.environ.pop(VERSIONS_ENV, None)
    os.environ.pop(FLAVORS_ENV, None)
    config = uvicorn.Config(
        _APP, factory=True, workers=workers, **_uvicorn_options(host, port, log_level)
    )
    # As uvicorn.run does for several workers, with the supervisor at hand to stop it, and a
    # socket from which each worker makes a listening socket of its own (so the connections
    # are spread over the workers, not taken by whichever accepts first).
    sock = worker_socket(host, port)
    supervisor = Multiprocess(config, sockets=[sock])
    failed: list[BaseException] = []

    def check() -> None:
        try:
            write_hand_off(handoff, {m: check_servable(m) for m in models})
        except BaseException as exc:  # raised again below, in the main thread
            failed.append(exc)
            supervisor.should_exit.set()  # stops (and waits for) the workers, restarts none
            write_failure(handoff)  # a worker waiting for the versions exits
            return
        print(banner, flush=True)

    checker = threading.Thread(target=check, name="loopml-serve-check", daemon=True)
    checker.start()
    try:
        supervisor.run()
    finally:
        checker.join()
        sock.close()
    if failed:
        raise failed[0]
