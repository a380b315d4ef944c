"""``loopml server`` (the team server, its users and tokens), ``loopml login`` and ``loopml sync``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from loopml._errors import LoopmlError, ValidationError
from loopml.cli._common import console, fmt_time, new_table

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = ["app", "login_command", "sync_command"]

app = typer.Typer(
    help="The team server: logins, roles, API tokens, remote logging, MLflow clients.",
    no_args_is_help=False,
    invoke_without_command=True,
)
users_app = typer.Typer(help="Users of the team server and their roles.", no_args_is_help=True)
tokens_app = typer.Typer(
    help="API tokens (for scripts and `loopml login URL`).", no_args_is_help=True
)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="The server's store URL (postgresql://... or sqlite:///...); default LOOPML_STORE.",
    ),
]
ArtifactsOpt = Annotated[
    Path | None,
    typer.Option(
        "--artifacts",
        help="Folder for artifacts and uploads (shared by all workers); default LOOPML_DIR.",
    ),
]


def _open(store_url: str | None, artifacts: Path | None = None) -> Store:
    from loopml._config import Settings
    from loopml.store import Store

    env = Settings.from_env()
    url = store_url or env.store_url
    data_dir = artifacts.expanduser().absolute() if artifacts else env.data_dir
    return Store(Settings(data_dir=data_dir, store_url=url))


@app.callback()
def server(
    ctx: typer.Context,
    store: StoreOpt = None,
    artifacts: ArtifactsOpt = None,
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to bind; loopback only unless --allow-remote.")
    ] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="Worker processes (they share the store).")] = 1,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow a non-loopback --host (use a TLS proxy)."),
    ] = False,
    max_body_mb: Annotated[
        int, typer.Option("--max-body-mb", help="Largest request body accepted (413 above).")
    ] = 64,
) -> None:
    """Serve the dashboard, the API and remote logging with logins, roles and tokens."""
    if ctx.invoked_subcommand is not None:
        return
    from loopml._config import Settings
    from loopml.server import serve_team

    env = Settings.from_env()
    url = store or env.store_url
    if not url:
        raise ValidationError(
            "loopml server needs a store shared by its workers: pass --store "
            "postgresql://user@host/db (or sqlite:///path/loopml.db for one worker)"
        )
    folder = artifacts.expanduser().absolute() if artifacts else env.data_dir
    if max_body_mb < 1:
        raise ValidationError(f"--max-body-mb must be at least 1, not {max_body_mb}")
    serve_team(
        url,
        str(folder),
        host,
        port,
        workers=workers,
        allow_remote=allow_remote,
        max_body=max_body_mb * 1024 * 1024,
    )


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name (their login).")],
    role: Annotated[
        str, typer.Option(help="annotator, viewer, member, maintainer or admin.")
    ] = "viewer",
    project: Annotated[
        str, typer.Option(help="The project the role applies to ('*': every project).")
    ] = "*",
    store: StoreOpt = None,
    password: Annotated[
        str | None,
        typer.Option(help="Password for the web login (prompted for on a terminal if omitted)."),
    ] = None,
) -> None:
    """Add a user with a role on one project or on every project."""
    if password is None and sys.stdin.isatty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = _open(store).users.add(name, role, project, password)
    console.print(Text(f"added user {user.name}: {role} on {project}"))


@users_app.command("role")
def users_role(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[str, typer.Argument(help="The new role, or 'none' to remove it.")],
    project: Annotated[str, typer.Option(help="The project ('*': every project).")] = "*",
    store: StoreOpt = None,
) -> None:
    """Give a user a role on a project (or remove it with 'none')."""
    _open(store).users.set_role(name, None if role == "none" else role, project)
    console.print(Text(f"{name}: {role} on {project}"))


@users_app.command("list")
def users_list(store: StoreOpt = None) -> None:
    """List users and their roles."""
    table = new_table("users", "user", "roles", "disabled")
    for u in _open(store).users.list_users():
        roles = ", ".join(f"{r} on {p}" for p, r in sorted(u.roles.items()))
        table.add_row(Text(u.name), Text(roles), "yes" if u.disabled else "")
    console.print(table)


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="The user the token acts as.")],
    store: StoreOpt = None,
    label: Annotated[str, typer.Option(help="What the token is for (shown in the list).")] = "cli",
) -> None:
    """Create an API token; it is printed once, as the last word of the last line."""
    secret = _open(store).users.create_token(name, label)
    console.print(Text("keep it secret; it is stored only hashed and cannot be shown again"))
    console.print(Text(f"token for {name}: {secret}"), soft_wrap=True)


@tokens_app.command("list")
def tokens_list(store: StoreOpt = None) -> None:
    """List API tokens (never their secrets)."""
    table = new_table("tokens", "id", "user", "label", "starts", "created", "revoked")
    for t in _open(store).users.tokens():
        table.add_row(
            str(t.id),
            Text(t.user),
            Text(t.name),
            t.prefix + "…",
            fmt_time(t.created_at),
            fmt_time(t.revoked_at) if t.revoked_at else "",
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see `tokens list`).")],
    store: StoreOpt = None,
) -> None:
    """Revoke a token; requests with it fail from now on."""
    _open(store).users.revoke_token(token_id)
    console.print(f"revoked token {token_id}")


@app.command("audit")
def audit(
    store: StoreOpt = None,
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 50,
) -> None:
    """Show the audit log: every write through the server (who, what, when, result)."""
    table = new_table("audit log", "when", "user", "request", "status", "detail")
    for e in _open(store).users.audit_log(limit):
        table.add_row(
            fmt_time(e.at),
            Text(e.user or "-"),
            Text(f"{e.method} {e.path}"),
            str(e.status),
            Text(e.detail or ""),
        )
    console.print(table)


def login_command(
    url: Annotated[str, typer.Argument(help="The team server, e.g. http://127.0.0.1:8765")],
    token: Annotated[
        str | None,
        typer.Option(help="The API token (prompted for if omitted; see `server tokens create`)."),
    ] = None,
) -> None:
    """Save an API token for a team server in a private file under your config folder."""
    import json

    from loopml._config import credentials_path
    from loopml.tracking import HttpBackend

    url = url.rstrip("/")
    if token is None:
        token = os.environ.get("LOOPML_TOKEN") or typer.prompt("API token", hide_input=True)
    backend = HttpBackend(url, token)
    status, body, _ = backend.request("GET", "/api/v1/whoami")
    if status != 200:
        raise LoopmlError(
            f"{url} refused the token (HTTP {status}); create one with "
            "`loopml server tokens create NAME --store URL`"
        )
    who = json.loads(body)
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    saved[url] = token
    # Written 0600 from the start: the token never sits in a world-readable file.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(saved, f, indent=1)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    console.print(Text(f"logged in to {url} as {who['name']}; token saved in {path}"))
    console.print(Text(f"log there with: export LOOPML_TRACKING_URI={url}"))


def sync_command() -> None:
    """Upload to the team server what killed processes left in their journals."""
    from loopml._config import Settings
    from loopml.tracking import Session

    settings = Settings.from_env()
    if not settings.tracking_uri:
        raise ValidationError(
            "loopml sync uploads to a team server: set LOOPML_TRACKING_URI=http://host:port "
            "(and log in with `loopml login URL`)"
        )
    session = Session(settings, background_recovery=False)
    first = session.last_recovery
    report = session.recover(strict=True)
    journals = first.journals + report.journals
    points = first.points + report.points
    console.print(
        Text(
            f"uploaded {journals} journal(s), {points:,} point(s) to "
            f"{session.settings.tracking_uri}; {len(report.runs_crashed)} run(s) marked crashed"
        )
    )


import_app = typer.Typer(help="Bring runs in from other trackers.", no_args_is_help=True)


@import_app.command("mlflow")
def import_mlflow_command(
    source: Annotated[
        str, typer.Argument(help="An MLflow tracking URI (http://host:port) or an mlruns folder.")
    ],
    experiment: Annotated[
        str | None, typer.Option(help="Import only this experiment (default: all).")
    ] = None,
) -> None:
    """Import MLflow experiments and runs (params, tags, whole metric histories, artifacts).

    Safe to run again: runs already imported are skipped.
    """
    from loopml.tracking import import_mlflow

    report = import_mlflow(source, project=experiment)
    console.print(
        Text(
            f"imported {len(report.imported)} run(s), {report.points:,} point(s), "
            f"{report.artifacts} artifact(s); {len(report.skipped)} already there"
        )
    )
