"""``loopml ui``: serve the dashboard on this machine."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["ui_command"]


def ui_command(
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to bind; loopback only unless --allow-remote.")
    ] = "127.0.0.1",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a non-loopback --host. The dashboard has no authentication: anyone who "
            "can reach the address can read every run.",
        ),
    ] = False,
) -> None:
    """Serve the web dashboard until Ctrl-C: runs, compare, sweeps, and the labeling pages
    (annotate with the keyboard, agreement per guideline version, review and label issues)."""
    from loopml.server import serve

    serve(host=host, port=port, allow_remote=allow_remote)
