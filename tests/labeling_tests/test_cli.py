"""``loopml datasets ...`` and ``loopml label ...`` end to end on the default store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loopml.cli import app, main

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args), terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_datasets_and_labeling_commands(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"id": [f"i{k}" for k in range(8)], "x": np.arange(8.0), "label": list("abab" * 2)}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert "toy@1" in _ok(
        "datasets", "create", "toy", str(tmp_path / "d.csv"), "--split", "train=0.5,test=0.5"
    )
    frame.loc[0, "x"] = 9.0
    frame.to_csv(tmp_path / "d.csv", index=False)
    _ok("datasets", "create", "toy", str(tmp_path / "d.csv"), "--split", "train=0.5,test=0.5")
    assert "toy" in _ok("datasets", "list")
    assert "versions of toy" in _ok("datasets", "show", "toy@1")
    assert "1 changed" in _ok("datasets", "diff", "toy@1", "toy@2")

    _ok("label", "create", "toy-labels", "--dataset", "toy@2", "--overlap", "2")
    (tmp_path / "g1.md").write_text("# Guide\nLabel a or b.\n")
    assert "v1" in _ok("label", "guidelines", "publish", str(tmp_path / "g1.md"), "--note", "first")
    _ok("label", "annotators", "add", "ann", "bo")
    _ok("label", "annotators", "add", "rev", "--role", "reviewer")
    assert "16 queue entries" in _ok("label", "assign")
    assert "i0" in _ok("label", "next", "--annotator", "ann")
    for k in range(8):
        _ok("label", "annotate", f"i{k}", "a", "--annotator", "ann", "--seconds", "1")
        _ok(
            "label",
            "annotate",
            f"i{k}",
            "b" if k < 2 else "a",
            "--annotator",
            "bo",
            *(["--comment", "<b>unclear</b>"] if k < 2 else []),
        )
    assert "Krippendorff" in _ok("label", "agreement")
    assert "a vs b: 2 disputed items, 2 flags" in _ok("label", "problems")
    (tmp_path / "g2.md").write_text("# Guide\nLabel a or b.\nb has a tail.\n")
    assert "4 relabel tasks" in _ok(
        "label", "guidelines", "publish", str(tmp_path / "g2.md"), "--note", "clarify b"
    )
    assert "v2" in _ok("label", "guidelines", "list")
    assert "b has a tail" in _ok("label", "guidelines", "show", "--version", "2")
    assert "+b has a tail." in _ok("label", "guidelines", "diff", "1", "2")
    assert "2 open for review" in _ok("label", "consensus", "--out", str(tmp_path / "c.csv"))
    assert "tie" in _ok("label", "review")
    assert "1 review entries closed" in _ok("label", "adjudicate", "i0", "b", "--reviewer", "rev")
    assert "ann" in _ok("label", "annotators", "list")
    assert "toy-labels" in _ok("label", "projects")
    status = _ok("label", "status")
    assert "guideline     v2" in status and "{" not in status  # formatted, no dict reprs
    probs = np.full((8, 2), 0.5)
    np.save(tmp_path / "p.npy", probs)
    assert "score" not in _ok("label", "suggest", "--probs", str(tmp_path / "p.npy"))
    probs[:, 0], probs[:, 1] = 0.05, 0.95
    np.save(tmp_path / "p.npy", probs)
    assert "suspected" in _ok("label", "issues", "--probs", str(tmp_path / "p.npy"))
    assert "toy-labeled@1" in _ok("label", "snapshot", "toy-labeled")


def test_errors_are_one_readable_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["loopml", "label", "status", "--project", "nope"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error:") and "no labeling project 'nope'" in err and "Traceback" not in err
    )
