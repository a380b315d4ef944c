"""The command line: each command on a seeded store, errors as one readable line, docs coverage."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.main import get_command
from typer.testing import CliRunner

import loopml
from loopml.cli import app

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def seeded(session: object) -> list[str]:
    ids = []
    for i, model in enumerate(["svc", "rf", "svc"]):
        with loopml.init(
            project="cli", name=f"run-{i}", config={"model": model}, tags={"t": "<b>x</b>"}
        ) as run:
            for step in range(3):
                run.log({"acc": 0.8 + 0.05 * i + 0.01 * step, "loss": 1.0 - 0.1 * step})
        ids.append(run.id)
    return ids


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and loopml.__version__ in result.stdout


def test_runs_list_filters_and_sorts(seeded: list[str]) -> None:
    result = runner.invoke(
        app,
        ["runs", "list", "-p", "cli", "-w", "params.model = 'svc'", "-s", "-metrics.acc"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "runs (2 of 2)" in result.stdout
    assert result.stdout.index("run-2") < result.stdout.index("run-0")
    assert "run-1" not in result.stdout


def test_runs_show(seeded: list[str]) -> None:
    result = runner.invoke(app, ["runs", "show", seeded[0][:6]], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "run-0" in result.stdout and "model" in result.stdout and "acc" in result.stdout


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_runs_export(seeded: list[str], tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"runs.{fmt}"
    result = runner.invoke(app, ["runs", "export", "-f", fmt, "-o", str(out), "-p", "cli"])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out) if fmt == "parquet" else pd.read_csv(out)
    assert len(frame) == 3 and "metrics.acc" in frame.columns and "params.model" in frame.columns


def test_runs_delete(seeded: list[str]) -> None:
    result = runner.invoke(app, ["runs", "delete", seeded[0], "--yes"])
    assert result.exit_code == 0 and "deleted 1" in result.stdout
    result = runner.invoke(
        app, ["runs", "delete", "-p", "cli", "-w", "params.model = 'rf'"], input="n\n"
    )
    assert result.exit_code != 0
    assert len(loopml.runs("cli")) == 2


def test_recover_command(session: object) -> None:
    result = runner.invoke(app, ["recover"])
    assert result.exit_code == 0 and "recovered" in result.stdout


def test_projects_command(seeded: list[str]) -> None:
    result = runner.invoke(app, ["projects"])
    assert result.exit_code == 0 and "cli" in result.stdout


def test_errors_are_one_readable_line(
    seeded: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from loopml.cli import main

    for argv in (
        ["runs", "list", "-w", "metrics.acc >"],
        ["runs", "show", "zzzzzzzz"],
        ["runs", "export", "-f", "xml", "-o", "x"],
    ):
        sys.argv = ["loopml", *argv]
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Traceback" not in err


def _commands(group: object, prefix: str = "loopml") -> list[str]:
    out = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        path = f"{prefix} {name}"
        if hasattr(cmd, "commands"):
            out.extend(_commands(cmd, path))
        else:
            assert cmd.help, f"{path} has no help text"
            out.append(path)
    return out


def test_every_command_has_help_and_is_documented() -> None:
    docs = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    missing = [c for c in _commands(get_command(app)) if not re.search(re.escape(c) + r"\b", docs)]
    assert not missing, f"commands missing from docs/: {missing}"


def test_demo_runs_every_stage_on_the_embedded_store() -> None:
    """``make demo`` without serving: every built stage of the loop, on SQLite + local files."""
    result = runner.invoke(app, ["demo", "--no-serve"], terminal_width=160)
    assert result.exit_code == 0, result.output
    baseline = loopml.runs("digits", where="tags.stage = 'baseline'")
    assert len(baseline) == 4 and (baseline["status"] == "finished").all()
    assert baseline["metrics.val_acc"].max() > 0.9


@pytest.mark.slow
def test_demo_rerun_reuses_what_it_stored() -> None:
    """A second ``make demo`` adds no runs, sweeps or labels, says what it reused, and prints
    the same review and label-issue counts; each annotator has a few items left to label."""
    first = runner.invoke(app, ["demo", "--no-serve"], terminal_width=160)
    assert first.exit_code == 0, first.output
    before = loopml.runs()
    second = runner.invoke(app, ["demo", "--no-serve"], terminal_width=160)
    assert second.exit_code == 0, second.output
    after = loopml.runs()
    assert len(after) == len(before) and set(after["id"]) == set(before["id"])
    out = second.output
    assert "reusing the 4 runs of a previous demo" in out
    assert "loopml runs delete --project digits --yes" in out
    assert "reusing sweep" in out and "exists already" in out
    # the team server stage reuses its user, token and runs (mlflow's run only when installed)
    assert re.search(r"reusing run \w{8} through LOOPML_TRACKING_URI", out)
    assert "logged run" not in out and "server stopped" in out
    from loopml._config import Settings
    from loopml.store import Store
    from loopml.tracking import default_session

    folder = default_session().settings.data_dir / "team-server"
    server = Store(Settings(data_dir=folder, store_url=f"sqlite:///{folder / 'server.db'}"))
    try:
        import importlib.util

        expected = 2 if importlib.util.find_spec("mlflow") else 1
        assert len(server.runs.search("digits-team", None, None, 100)) == expected
    finally:
        server.close()
    for text in ("consensus on", "label issues (cleanlab"):  # (lines wrap at 80)
        line1 = next(x for x in first.output.splitlines() if text in x)
        line2 = next(x for x in out.splitlines() if text in x)
        assert line1 == line2
    assert "NaN" not in out and "{'" not in out  # never-logged metrics are "-", no dict reprs
    waiting = next(x for x in out.splitlines() if "left in the annotators' queues" in x)
    assert re.search(r"ana \d+", waiting)
    p = loopml.labeling.project("digits-labels")
    assert p.next_item("ana") is not None


def test_the_command_line_builds_only_the_command_it_names() -> None:
    from loopml.cli import app_for

    full = get_command(app)
    assert list(get_command(app_for(["serve", "m@champion", "--port", "0"])).commands) == ["serve"]
    assert list(get_command(app_for(["--version", "models", "list"])).commands) == ["models"]
    # No command, --help or a mistyped one: the whole app, which lists every command.
    for argv in ([], ["--help"], ["serv"]):
        assert app_for(argv) is app
    # Each command alone is the same command: the same help and the same errors.
    for name in full.commands:
        alone = app_for([name])
        for args in ([name, "--help"], [name, "--no-such-option"]):
            got, want = CliRunner().invoke(alone, args), CliRunner().invoke(app, args)
            assert (got.exit_code, got.output) == (want.exit_code, want.output), args
