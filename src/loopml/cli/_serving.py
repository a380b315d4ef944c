"""``loopml serve NAME@ALIAS`` and ``loopml predict NAME@ALIAS in.parquet -o out.parquet``."""

from __future__ import annotations

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
) -> None:
    """Serve a registered model over HTTP: POST /predict, /feedback, /ready, /metrics."""
    from loopml._errors import ValidationError
    from loopml.serving import is_loopback

    if ray is not None:
        from loopml.serving import serve_on_ray

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
    )


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
