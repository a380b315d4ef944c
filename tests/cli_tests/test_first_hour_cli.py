"""The CLI at 80 columns, the demo's port check and reruns, formatted (not repr'd) output."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app

runner = CliRunner()


@pytest.fixture
def wide_runs(session: object) -> list[str]:
    ids = []
    for i, name in enumerate(["coolest-model-of-them-all", "first-try", "sgd-logloss"]):
        with loopml.init(project="digits", name=name, config={"lr": 10.0**-i}) as run:
            metrics = {"train_acc": 0.912345 + i / 100, "val_acc": 0.901234}
            if i:  # the first run never logs a loss
                metrics["val_loss"] = 0.123456789
            run.log(metrics)
        ids.append(run.id)
    with loopml.init(project="other", name="elsewhere") as run:
        run.log({"val_acc": 0.5})
    return ids


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def _header(output: str) -> str:
    return next(line for line in output.splitlines() if "┃ id" in line)


def test_runs_list_fits_80_columns_and_never_cuts_numbers(wide_runs: list[str]) -> None:
    result = runner.invoke(app, ["runs", "list", "--project", "digits"], terminal_width=80)
    assert result.exit_code == 0, result.output
    out = result.output
    assert max(len(line) for line in _lines(out)) <= 80
    assert "…" not in out
    for value in ("0.912345", "0.922345", "0.901234", "0.123457"):
        assert value in out
    assert "coolest-model" in out  # names may wrap, not shrink to "coo..."
    assert "project" not in _header(out)  # one project: no project column
    assert "left out to fit 80 columns" in out  # and it says which columns gave way
    # The run that never logged val_loss shows "-", not NaN.
    row = next(line for line in _lines(out) if wide_runs[0][:8] in line)
    assert "NaN" not in row and " - " in row


def test_runs_list_shows_the_project_when_several_are_listed(wide_runs: list[str]) -> None:
    from loopml.cli._common import console

    saved = console._width
    console.width = 160  # a wide terminal (the CLI's console reads its width once)
    try:
        result = runner.invoke(app, ["runs", "list"])
    finally:
        console._width = saved
    assert result.exit_code == 0, result.output
    assert "project" in _header(result.output) and "other" in result.output
    assert "ago" in result.output  # compact start times


def test_runs_show_prints_packages_not_a_dict(wide_runs: list[str]) -> None:
    result = runner.invoke(app, ["runs", "show", wide_runs[0]], terminal_width=200)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("packages:"))
    assert "{" not in line and "loopml=" in line


def test_label_labels_lists_an_items_labels(session: object) -> None:
    import pandas as pd

    frame = pd.DataFrame({"id": ["a", "b"], "x": [1.0, 2.0]})
    p = loopml.labeling.create_project(
        "pets", loopml.datasets.create("pets", frame), ["cat", "dog"]
    )
    p.publish_guidelines("# Pets\n", note="first")
    p.add_annotators(["ann", "bo"])
    p.assign(limit=2, overlap=2)
    p.annotate("ann", "a", "cat", flag=True, comment="[ears?]")
    p.annotate("bo", "a", "dog", comment="[bold]not bold[/]")
    result = runner.invoke(app, ["label", "labels", "a", "--project", "pets"], terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "label, flagged" in result.output and "[ears?]" in result.output
    assert "[bold]not bold[/]" in result.output  # user text printed as it is, brackets kept
    empty = runner.invoke(app, ["label", "labels", "b", "--project", "pets"])
    assert "b has no labels yet" in empty.output


def test_demo_checks_the_port_before_running_anything() -> None:
    from loopml.demo import check_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(loopml.ConflictError, match=rf"port {port} .* make demo PORT=\d+"):
            check_port(port)
        result = runner.invoke(app, ["demo", "--port", str(port)])
    assert result.exit_code != 0
    assert loopml.runs().empty  # nothing ran
