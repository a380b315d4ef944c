"""``loopml server users/tokens``, ``loopml login`` and the server's argument checks."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml._config import Settings
from loopml.cli import app
from loopml.store import Store


def test_users_add_and_tokens_create_print_the_token_last(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "server",
            "users",
            "add",
            "ann",
            "--role",
            "annotator",
            "--project",
            "cats",
            "--store",
            url,
            "--password",
            "long-enough-pw",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "added user ann: annotator on cats" in added.output
    made = runner.invoke(app, ["server", "tokens", "create", "ann", "--store", url])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1].split()[-1]
    store = Store(Settings(data_dir=tmp_path / "d", store_url=url))
    user = store.users.authenticate_token(token)
    assert user is not None and user.roles == {"cats": "annotator"}
    listed = runner.invoke(app, ["server", "tokens", "list", "--store", url])
    assert token not in listed.output and "ann" in listed.output
    revoked = runner.invoke(app, ["server", "tokens", "revoke", "1", "--store", url])
    assert revoked.exit_code == 0 and store.users.authenticate_token(token) is None
    users = runner.invoke(app, ["server", "users", "list", "--store", url])
    assert "annotator on cats" in users.output
    bad = runner.invoke(app, ["server", "users", "add", "x", "--role", "boss", "--store", url])
    assert bad.exit_code != 0
    store.close()


def test_server_refuses_remote_host_without_flag(tmp_path: Path) -> None:
    from loopml import ValidationError
    from loopml.server import serve_team

    with pytest.raises(ValidationError, match="--allow-remote"):
        serve_team(f"sqlite:///{tmp_path / 's.db'}", str(tmp_path), "0.0.0.0", 0)
    with pytest.raises(ValidationError, match="--workers"):
        serve_team(f"sqlite:///{tmp_path / 's.db'}", str(tmp_path), "127.0.0.1", 0, workers=0)


def test_login_saves_the_token_in_a_0600_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests._team import TeamServer

    store = Store(Settings(data_dir=tmp_path / "srv"))
    server = TeamServer(store)
    try:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
        bad = CliRunner().invoke(app, ["login", server.url, "--token", "lml_wrong"])
        assert bad.exit_code != 0
        ok = CliRunner().invoke(app, ["login", server.url + "/", "--token", server.admin_token])
        assert ok.exit_code == 0, ok.output
        path = tmp_path / "cfg" / "loopml" / "credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text()) == {server.url: server.admin_token}
        monkeypatch.setenv("LOOPML_TRACKING_URI", server.url)
        monkeypatch.delenv("LOOPML_TOKEN", raising=False)
        assert Settings.from_env().token == server.admin_token
    finally:
        server.stop()
        store.close()


def test_sync_needs_a_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code != 0
