"""``loopml sweep run/resume/show/list`` on sweep files: a module:function objective and a command."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml.cli import app
from loopml.tracking import default_session

runner = CliRunner()

OBJECTIVE = """
def objective(params, run):
    return {"val_acc": 1 - (params["x"] - 0.3) ** 2}
"""

TRAIN = """
import argparse, loopml
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--depth", type=int)
a = p.parse_args()
with loopml.init(project="cmd") as run:
    for epoch in range(3):
        run.log({"val_acc": 1 - abs(a.lr - 0.01) - a.depth * 0.01 - 0.1 / (epoch + 1)})
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_run_show_list_resume_a_function_sweep(tmp_path: Path) -> None:
    _write(tmp_path, "myobjective.py", OBJECTIVE)
    spec = _write(
        tmp_path,
        "sweep.yaml",
        """
        project: cli
        name: quad
        objective: myobjective:objective
        n_trials: 6
        sampler: random
        seed: 0
        space:
          x: {uniform: [0, 1]}
          y: {choice: [a, b]}
          fixed: 3
        """,
    )
    out = _invoke("sweep", "run", str(spec), "--no-progress")
    assert "best 5 trials" in out and "6 finished" in out
    sweeps = default_session().store.sweeps
    record = sweeps.list_sweeps(project="cli")[0]
    out = _invoke("sweep", "show", record.id[:6])
    assert "parameter importances" in out and "quad" in out
    assert record.id in _invoke("sweep", "list", "--project", "cli")
    out = _invoke("sweep", "resume", record.id, "--n-trials", "9", "--no-progress")
    assert "9 finished" in out
    assert len(sweeps.load_trials(record.id)) == 9


def test_run_a_command_sweep(tmp_path: Path) -> None:
    _write(tmp_path, "train.py", TRAIN)
    spec = _write(
        tmp_path,
        "sweep.yaml",
        f"""
        project: cmd
        command: {sys.executable} train.py --lr {{lr}} --depth {{depth}}
        n_trials: 3
        space:
          lr: {{loguniform: [0.001, 0.1]}}
          depth: {{intrange: [2, 5]}}
        """,
    )
    out = _invoke("sweep", "run", str(spec), "--no-progress", "--no-cache")
    assert "3 finished" in out
    sweeps = default_session().store.sweeps
    trials = sweeps.load_trials(sweeps.list_sweeps(project="cmd")[0].id)
    record = default_session().store.runs.get(trials[0].run_id)
    assert (
        record.metrics["val_acc"].count == 3
        and record.sweep_id == sweeps.list_sweeps(project="cmd")[0].id
    )
    assert trials[0].value == record.metrics["val_acc"].last


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("objective: a:b\nspace: {x: {uniform: [0, 1]}}\nbudget: 3\n", "unknown keys ['budget']"),
        ("objective: a:b\ncommand: echo\nspace: {x: 1}\n", "exactly one of"),
        ("objective: a:b\n", "'space' must be a non-empty mapping"),
        ("objective: a:b\nspace: {x: {normal: [0, 1]}}\n", "is not one of"),
        (
            "objective: nosuchmodule:f\nspace: {x: {uniform: [0, 1]}}\n",
            "cannot import module 'nosuchmodule'",
        ),
        ("[1, 2", "not valid YAML"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, text: str, needle: str) -> None:
    from loopml.cli import main

    spec = _write(tmp_path, "bad.yaml", text)
    result = runner.invoke(app, ["sweep", "run", str(spec), "--no-progress"])
    assert result.exit_code != 0
    assert needle in str(result.exception), (needle, result.exception)
    assert main  # errors reach the user through main()'s one-line handler


def test_unknown_sweep_id() -> None:
    result = runner.invoke(app, ["sweep", "show", "nosuchsweep"])
    assert "no sweep with id 'nosuchsweep'" in str(result.exception)


def test_errors_print_with_their_brackets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from loopml.cli import main

    spec = _write(tmp_path, "bad.yaml", "objective: a:b\nspace: {x: {normal: [0, 1]}}\n")
    monkeypatch.setattr(sys, "argv", ["loopml", "sweep", "run", str(spec), "--no-progress"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "error:" in err and "{uniform: [low, high]}" in err


def test_show_without_an_id(tmp_path: Path) -> None:
    out = _invoke("sweep", "show")
    assert "no sweeps yet" in out and "loopml sweep run FILE" in out
    _write(tmp_path, "myobjective.py", OBJECTIVE)
    space = "space:\n  x: {uniform: [0, 1]}\n"
    for project in ("one", "one", "two"):
        spec = _write(
            tmp_path,
            f"{project}.yaml",
            f"project: {project}\nobjective: myobjective:objective\nn_trials: 2\n{space}",
        )
        _invoke("sweep", "run", str(spec), "--no-progress")
        if project == "one":
            latest = default_session().store.sweeps.list_sweeps()[0]
            out = _invoke("sweep", "show")
            assert f"sweep {latest.id}" in out and "the latest sweep of project one" in out
    out = _invoke("sweep", "show")  # sweeps of two projects: list them, show none
    assert "several projects" in out and "sweeps (3)" in out and "best 2 trials" not in out
