"""``loopml models list|show|alias``."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

import loopml
import loopml.registry as reg
from loopml.cli import app, main

runner = CliRunner()


@pytest.fixture
def registered(session: object, frame: tuple, clf: object) -> None:
    x, _ = frame
    with loopml.init(project="cli-models", name="trainer") as run:
        run.log({"acc": 0.9})
    reg.register("digits-clf", clf, run=run, example=x[:3], description="[b]bold[/b] kept")
    reg.register("digits-clf", clf, example=x[:3])


def test_list_and_show(registered: None) -> None:
    reg.set_alias("digits-clf", "champion", 1, reason="first [release]")
    out = runner.invoke(app, ["models", "list"], terminal_width=80)
    assert out.exit_code == 0, out.output
    assert "digits-clf" in out.output and "@champion->1" in out.output
    out = runner.invoke(app, ["models", "show", "digits-clf@champion"], terminal_width=80)
    assert out.exit_code == 0, out.output
    assert "digits-clf/1" in out.output and "trainer" in out.output
    assert "[b]bold[/b] kept" in out.output  # user text printed without markup
    assert "first [release]" in out.output
    assert all(len(line) <= 80 for line in out.output.splitlines())


def test_alias_moves_and_removes(registered: None) -> None:
    out = runner.invoke(app, ["models", "alias", "digits-clf", "champion", "2", "--reason", "x"])
    assert out.exit_code == 0 and "version 2" in out.output
    assert reg.get("digits-clf@champion").version == 2
    out = runner.invoke(app, ["models", "alias", "digits-clf", "champion", "--remove"])
    assert out.exit_code == 0 and "removed" in out.output
    assert reg.list_models()[0].aliases == {}


def test_errors_are_one_line(registered: None, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["models", "show", "digits-clf@nope"],
        ["models", "alias", "digits-clf", "champion"],
        ["models", "alias", "digits-clf", "champion", "9"],
        ["models", "show", "digitz-clf"],
    ):
        sys.argv = ["loopml", *argv]
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Traceback" not in err


def test_show_lists_the_evaluations_of_the_version(
    session: object, frame: tuple, clf: object
) -> None:
    import pandas as pd

    import loopml.analysis

    x, y = frame
    data = x.assign(id=[f"i{i}" for i in range(len(x))], label=[str(v) for v in y])
    ds = loopml.datasets.create("cli-points", data, split={"train": 0.5, "test": 0.5})
    reg.register("judged-clf", clf, example=x[:3])
    out = runner.invoke(app, ["models", "show", "judged-clf/1"], terminal_width=120)
    assert out.exit_code == 0, out.output
    assert "model_version='judged-clf/1'" in out.output  # how to add one
    test = ds.to_pandas(split="test")
    guess = clf.predict(test[["a", "b", "c", "d"]])  # type: ignore[attr-defined]
    preds = pd.DataFrame({"id": test["id"], "prediction": [str(v) for v in guess]})
    ev = loopml.analysis.evaluate(preds, ds.ref, model_version="judged-clf/1", name="[b]cli[/b]")
    out = runner.invoke(app, ["models", "show", "judged-clf/1"], terminal_width=120)
    assert out.exit_code == 0, out.output
    assert f"{ev.id[:8]} [b]cli[/b]" in out.output and "accuracy" in out.output
