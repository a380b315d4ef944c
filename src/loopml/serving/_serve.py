"""``loopml serve``: run the model server under uvicorn (one or several worker processes)."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml._net import check_port, is_loopback
from loopml.serving._app import CONFIG_ENV, ServeConfig
from loopml.serving._handoff import hand_off

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
    (unknown, no signature)."""
    import loopml.registry as reg

    mv = reg.get(ref)
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
    found = {ref: check_servable(ref)}
    if shadow:
        found[shadow] = check_servable(shadow)
    port = check_port(host, port)
    # Every worker writes its metric values here; /metrics adds them up (multiprocess mode).
    metrics_dir = tempfile.mkdtemp(prefix="loopml-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[CONFIG_ENV] = config.to_env()
    # The versions just checked: the workers load them without asking the store again.
    os.environ.update(hand_off(found))
    for var in _THREAD_VARS:  # the workers' BLAS/OpenMP pools, before they import numpy
        os.environ[var] = str(threads)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"loopml serving {ref} at http://{shown}:{port}/predict "
        f"({workers} worker{'s' if workers > 1 else ''}; Ctrl-C to stop)",
        flush=True,
    )
    try:
        uvicorn.run(
            "loopml.serving._app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
