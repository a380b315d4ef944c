"""``loopml eval ...`` on a seeded store: each command, and errors as one readable line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app, main

from .conftest import CLASSES, planted_predictions

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args), terminal_width=160)
    assert result.exit_code == 0, result.output
    return result.output


def test_eval_commands(store: Any, version: Any, tmp_path: Path) -> None:
    path = tmp_path / "preds.parquet"
    planted_predictions(version).to_parquet(path)
    with loopml.init(project="pets") as run:
        run.log({"x": 1.0})
    out = _ok(
        "eval", "run", str(path), "-d", "pets@1", "--classes", ",".join(CLASSES), "--run", run.id
    )
    assert "accuracy" in out and "log_loss" in out
    ev = loopml.analysis.list_evaluations()[0]
    assert ev.record.run_id == run.id
    assert ev.id[:12] in _ok("eval", "show")
    shown = _ok("eval", "show", ev.id[:8])
    assert "confusion" in shown and "pets@1" in shown
    found = _ok("eval", "slices", ev.id[:8])
    assert "source = 'scan'" in found
    one = _ok("eval", "slices", ev.id[:8], "-w", "source = 'scan' and brightness < 0.3")
    assert "accuracy" in one
    assert "empty" in _ok("eval", "slices", ev.id[:8], "-w", "brightness > 7")
    assert "camera = 2" in _ok("eval", "slices", ev.id[:8], "--all")
    assert "nothing to rank" in _ok("eval", "ceiling", ev.id[:8])
    tagged = _ok("eval", "tag", ev.id[:8], "[dark]", "-w", "brightness < 0.3", "--errors-only")
    assert "[dark] (rule)" in tagged  # brackets in user text survive
    assert "[dark]" in _ok("eval", "ceiling", ev.id[:8])
    assert "gain" in _ok("eval", "ceiling", ev.id[:8], "--by", "slices")
    assert "log_loss gain if fixed" in _ok("eval", "ceiling", ev.id[:8], "--metric", "log_loss")
    bad = runner.invoke(app, ["eval", "ceiling", ev.id[:8], "--error-threshold", "1"])
    assert bad.exit_code != 0 and "error_threshold defines a regression" in str(bad.exception)
    assert "suspected-label-error" in _ok(
        "eval", "tag", ev.id[:8], "suspected-label-error", "--auto"
    )
    hand = _ok("eval", "tag", ev.id[:8], "hand", "--items", ",".join(ev.rows()["id"][:3]))
    assert "3 examples" in hand
    planted_predictions(version, rate_in=0.05).to_parquet(path)
    _ok("eval", "run", str(path), "-d", "pets@1", "--classes", ",".join(CLASSES))
    newer = loopml.analysis.list_evaluations()[0]
    cmp = _ok("eval", "compare", ev.id[:8], newer.id[:8])
    assert "fixed" in cmp and "McNemar" in cmp


def test_eval_errors_are_one_line(
    store: Any, version: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "preds.parquet"
    planted_predictions(version).to_parquet(path)
    for argv, message in (
        (["eval", "run", str(path), "-d", "pets@1"], "classes"),
        (["eval", "run", "nope.parquet", "-d", "pets@1"], "no file"),
        (["eval", "show", "zzzzzzzz"], "no evaluation"),
    ):
        sys.argv = ["loopml", *argv]
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err


def test_demo_stage(session: Any) -> None:
    """The demo's analysis stage on its own (no baseline runs: it trains a default model)."""
    import io

    from rich.console import Console

    from loopml.demo._analysis import analyse_digits

    out = io.StringIO()
    result = analyse_digits(Console(file=out, width=120))
    assert result["accuracy"] > 0.85 and result["sent"] > 0
    ev = loopml.analysis.get_evaluation(result["evaluation"])
    assert [r.group_name for r in ev.labeling_requests()] == [result["top_tag"]]
    assert "ceiling table" in out.getvalue()
