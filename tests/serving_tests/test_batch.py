"""``loopml predict NAME@ALIAS in.parquet -o out.parquet`` and ``predict_file``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import loopml.serving
from loopml import ValidationError
from loopml.cli import app


def test_predict_file_adds_predictions(model: object, data: tuple, tmp_path: Path) -> None:
    x, _ = data
    src = tmp_path / "in.parquet"
    x.assign(row=range(len(x))).to_parquet(src)
    seen: list[tuple[int, int]] = []
    n = loopml.serving.predict_file(
        "m@champion",
        src,
        tmp_path / "out.parquet",
        batch_rows=40,
        progress=lambda d, t: seen.append((d, t)),
    )
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert n == len(x) == len(out) and seen[-1] == (150, 150) and len(seen) == 4
    assert list(out["prediction"]) == list(model.predict(x))  # type: ignore[attr-defined]
    assert list(out["row"]) == list(range(len(x)))
    assert {"confidence", "proba.high", "proba.low", "proba.mid"} <= set(out.columns)


def test_predict_file_refuses_bad_input(model: object, data: tuple, tmp_path: Path) -> None:
    x, _ = data
    src = tmp_path / "in.parquet"
    x.drop(columns="c").to_parquet(src)
    with pytest.raises(ValidationError, match="missing column 'c'"):
        loopml.serving.predict_file("m@champion", src, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(ValidationError, match="not a readable Parquet"):
        loopml.serving.predict_file("m@champion", tmp_path / "junk.parquet", tmp_path / "o.parquet")
    with pytest.raises(ValidationError, match="does not exist"):
        loopml.serving.predict_file("m@champion", tmp_path / "nope.parquet", tmp_path / "o.parquet")


def test_predict_command(model: object, data: tuple, tmp_path: Path) -> None:
    x, _ = data
    x.to_parquet(tmp_path / "in.parquet")
    result = CliRunner().invoke(
        app,
        ["predict", "m@champion", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "o.parquet")],
    )
    assert result.exit_code == 0, result.output
    assert "150 rows predicted" in result.output
    assert len(pd.read_parquet(tmp_path / "o.parquet")) == 150
