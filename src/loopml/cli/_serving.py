"""``loopml serve NAME@ALIAS`` and ``loopml predict NAME@ALIAS in.parquet -o out.parquet``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from loopml.cli._common import console


def serve_command(
    ref: Annotated[str, typer.Argument(help="The model to serve: NAME@ALIAS or NAME/VERSION.")],
    port: Annotated[int, typer.Option(help="Port (0: any free one).")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    shadow: Annotated[
        str | None,
        typer.Option(help="A challenger NAME@ALIAS scored on the same requests, logged only."),
    ] = None,
    log: Annotated[bool, typer.Option("--log/--no-log", help="Write the prediction log.")] = True,
    threads: Annotated[int, typer.Option(help="BLAS/OpenMP threads per worker.")] = 1,
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body accepted (413 above).")
    ] = 4 << 20,
    trust: Annotated[
        bool, typer.Option("--trust", help="Allow loading a pickled (python flavor) model.")
    ] = False,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow binding a non-loopback address.")
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(help="Run as a Ray Serve deployment on the cluster at this address."),
    ] = None,
    replicas: Annotated[int, typer.Option(help="Ray Serve replicas (with --ray).")] = 1,
    monitor: Annotated[
        bool | None,
        typer.Option(
            "--monitor/--no-monitor",
            help="Run the model's monitor inside the server (default: when it has one).",
        ),
    ] = None,
    monitor_every: Annotated[
        str, typer.Option("--monitor-every", help="Interval of the in-server monitor.")
    ] = "60s",
) -> None:
    """Serve a registered model over HTTP: POST /predict, /feedback, /ready, /metrics."""
    from loopml._errors import ValidationError
    from loopml.serving import is_loopback

    if ray is not None:
        from loopml.serving import serve_on_ray

        if monitor:
            raise ValidationError(
                "--monitor runs in uvicorn workers; with --ray run the monitor beside the "
                "cluster: loopml monitor run MODEL --every 60s"
            )

        if workers != 1:
            raise ValidationError("--workers is for uvicorn; with --ray use --replicas N")
        if not is_loopback(host) and not allow_remote:
            raise ValidationError(
                f"refusing to serve on {host!r} without --allow-remote (no authentication)"
            )
        serve_on_ray(
            ref,
            address=ray,
            replicas=replicas,
            host=host,
            port=port,
            shadow=shadow,
            log=log,
            trust=trust,
            threads=threads,
            max_body_bytes=max_body_bytes,
        )
        return
    from loopml.serving import serve

    hooks = _server_hooks(ref, monitor, monitor_every, log)
    with _workers_skip_the_cli_script():
        serve(
            ref,
            host=host,
            port=port,
            workers=workers,
            shadow=shadow,
            log=log,
            trust=trust,
            threads=threads,
            max_body_bytes=max_body_bytes,
            allow_remote=allow_remote,
            hooks=hooks,
        )


@contextlib.contextmanager
def _workers_skip_the_cli_script() -> Iterator[None]:
    """Keep uvicorn's worker processes from running the ``loopml`` script again.

    Workers are started with multiprocessing's "spawn", which first runs the parent's main
    script in each (so that what it defines can be unpickled there). Under the ``loopml``
    console script that imports the whole CLI (Typer, rich, every command module, ~100 modules
    ahead of numpy) in every worker, which never uses it: a worker builds its app from
    ``loopml.serving``. Spawn runs no script for a ``__main__`` without ``__file__``.
    """
    from loopml.cli import main as cli_main

    script = sys.modules.get("__main__")
    path = getattr(script, "__file__", None)
    if (
        script is None
        or path is None
        or getattr(script, "__spec__", None) is not None  # `python -m`: spawn skips it anyway
        or getattr(script, "main", None) is not cli_main  # someone else's script: keep it
    ):
        yield
        return
    del script.__file__
    try:
        yield
    finally:
        script.__file__ = path


def _server_hooks(
    ref: str, monitor: bool | None, every: str, log: bool
) -> dict[str, dict[str, object]]:
    """The in-server monitor's hook: on with --monitor, or when the model has a monitor; it
    also compacts the prediction log's closed hours (whenever the server writes a log).

    Only ``--monitor`` is checked here (a model without a monitor is an error); by default each
    worker looks the monitor up itself once it answers, so this needs no SQL store.
    """
    from loopml._errors import NotFoundError, ValidationError
    from loopml.cli._monitor import _interval
    from loopml.registry import parse_ref

    seconds = _interval(every, "--monitor-every")
    name = parse_ref(ref)[0]
    if monitor:
        from loopml.tracking import default_session

        try:
            default_session().store.monitors.get_monitor(name)
        except NotFoundError:
            raise ValidationError(
                f"{name} has no monitor to run; create one first: loopml monitor init {name} "
                "--reference-since 2026-11-01 --reference-until 2026-11-08"
            ) from None
    if monitor is False and not log:
        return {}
    return {"loopml.monitoring:serve_hook": {"every": seconds, "monitor": monitor, "compact": log}}


def predict_command(
    ref: Annotated[str, typer.Argument(help="The model: NAME@ALIAS or NAME/VERSION.")],
    source: Annotated[Path, typer.Argument(help="Input Parquet file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output Parquet file.")],
    batch_rows: Annotated[int, typer.Option(help="Rows per model call.")] = 50_000,
    trust: Annotated[
        bool, typer.Option("--trust", help="Allow loading a pickled (python flavor) model.")
    ] = False,
) -> None:
    """Predict every row of a Parquet file into another (prediction, confidence, proba.*)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from loopml.serving import predict_file

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("predicting", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        n = predict_file(ref, source, output, batch_rows=batch_rows, trust=trust, progress=progress)
    console.print(Text(f"{n:,} rows predicted with {ref} -> {output}"))
