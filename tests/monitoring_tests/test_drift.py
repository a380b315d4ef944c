"""drift(): detection quality, family-wise control, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml._errors import ValidationError
from loopml.monitoring import drift, holm


def _frame(n: int, rng: np.random.Generator, shift: float = 0.0, move: float = 0.0) -> pd.DataFrame:
    data = {f"x{i}": rng.normal(0, 1, n) for i in range(20)}
    data["x0"] = data["x0"] + shift
    for j in range(5):
        p = np.array([0.4, 0.3, 0.2, 0.1])
        if j == 0:
            p = p + np.array([-move, move, 0, 0])
        data[f"c{j}"] = rng.choice(list("abcd"), n, p=p)
    return pd.DataFrame(data)


def test_report_shape_and_columns() -> None:
    rng = np.random.default_rng(0)
    report = drift(_frame(2000, rng), _frame(2000, rng, shift=0.5))
    assert list(report.features.columns[:2]) == ["feature", "kind"]
    for col in ("feature", "test", "statistic", "p_value", "drifted"):
        assert col in report.features.columns
    assert len(report.features) == 25
    assert report.drifted == ["x0"]
    row = report.features.set_index("feature").loc["x0"]
    assert row["test"] in ("mean_z", "ks") and row["p_value"] < 1e-6


def test_quality_over_seeds() -> None:
    """A 0.2 sd shift and a 10% categorical move are always caught; no-drift rarely alarms."""
    caught_shift = caught_move = alarms = 0
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        ref = _frame(10_000, rng)
        caught_shift += "x0" in drift(ref, _frame(10_000, rng, shift=0.2)).drifted
        caught_move += "c0" in drift(ref, _frame(10_000, rng, move=0.1)).drifted
        alarms += bool(drift(ref, _frame(10_000, rng)).drifted)
    assert caught_shift == 6 and caught_move == 6
    assert alarms <= 1


def test_constant_column_is_no_drift_never_nan() -> None:
    ref = pd.DataFrame({"k": [3.0] * 500, "s": ["a"] * 500})
    cur = pd.DataFrame({"k": [3.0] * 400, "s": ["a"] * 400})
    report = drift(ref, cur)
    assert report.drifted == []
    assert not report.features[["statistic", "p_value"]].isna().any().any()


def test_constant_that_changes_value_is_drift() -> None:
    report = drift(pd.DataFrame({"k": np.full(100, 1.0)}), pd.DataFrame({"k": np.full(100, 2.0)}))
    assert report.drifted == ["k"]


def test_jump_in_missing_share_is_flagged() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 5000)})
    cur_values = rng.normal(0, 1, 5000)
    cur_values[:1000] = np.nan  # a pipeline bug nulls 20% of the rows; the rest look the same
    report = drift(ref, pd.DataFrame({"x": cur_values}))
    assert report.drifted == ["x"]
    assert report.features.loc[0, "test"] == "missing_z"


def test_nan_and_unseen_categories_do_not_crash() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"c": rng.choice(["a", "b", None], 3000), "x": rng.normal(0, 1, 3000)})
    cur = pd.DataFrame({"c": rng.choice(["a", "b", "zzz-new"], 3000), "x": np.full(3000, np.nan)})
    report = drift(ref, cur)
    assert set(report.drifted) == {"c", "x"}


def test_parquet_paths_and_large_sample_grid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 120_000)})
    cur = pd.DataFrame({"x": rng.normal(0.05, 1, 120_000)})
    ref.to_parquet(tmp_path / "r.parquet")
    cur.to_parquet(tmp_path / "c.parquet")
    report = drift(tmp_path / "r.parquet", str(tmp_path / "c.parquet"))
    assert report.drifted == ["x"]


def test_bad_input() -> None:
    frame = pd.DataFrame({"amount": [1.0, 2.0]})
    with pytest.raises(ValidationError, match="did you mean 'amount'"):
        drift(frame, frame, features=["amont"])
    with pytest.raises(ValidationError, match="alpha"):
        drift(frame, frame, alpha=2)
    with pytest.raises(ValidationError, match="DataFrame"):
        drift([1, 2], frame)
    with pytest.raises(ValidationError, match="share no column"):
        drift(frame, pd.DataFrame({"other": [1]}))


def test_holm_is_monotone_and_capped() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.9, 0.8]) == [1.0, 1.0]
