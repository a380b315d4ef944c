"""``loopml import mlflow``: an mlruns folder (or a tracking URI) into loopml, idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

mlflow = pytest.importorskip(
    "mlflow", reason="importing from MLflow needs the mlflow package (pip install mlflow)"
)


def _mlruns(tmp_path: Path) -> tuple[Path, list[str]]:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    folder = tmp_path / "mlruns"
    client = MlflowClient(tracking_uri=folder.as_uri())
    exp = client.create_experiment("vision")
    ids = []
    for i in range(2):
        run = client.create_run(exp, run_name=f"r{i}", tags={"team": "cv"})
        rid = run.info.run_id
        client.log_param(rid, "lr", str(0.1 * (i + 1)))
        client.log_batch(
            rid,
            metrics=[Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(300)],
        )
        art = tmp_path / f"weights{i}.txt"
        art.write_text(f"weights {i}")
        client.log_artifact(rid, str(art))
        client.log_artifact(rid, str(art), artifact_path="ckpt")
        client.set_terminated(rid, "FINISHED" if i == 0 else "FAILED")
        ids.append(rid)
    return folder, ids


def test_import_mlflow_folder_twice_stores_everything_once(
    tmp_path: Path, session: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.cli import app

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    folder, ids = _mlruns(tmp_path)
    first = CliRunner().invoke(app, ["import", "mlflow", str(folder)])
    assert first.exit_code == 0, first.output
    assert "imported 2 run(s), 600 point(s), 4 artifact(s); 0 already there" in first.output
    store = session.store  # type: ignore[attr-defined]
    r0 = store.runs.get(ids[0])
    assert r0.project == "vision" and r0.name == "r0" and r0.status == "finished"
    assert r0.params == {"lr": "0.1"} and r0.tags["team"] == "cv"
    assert r0.metrics["loss"].count == 300
    steps, _, values = store.runs.history(ids[0], "loss")
    assert steps == list(range(300)) and values[1] == 0.5
    assert store.runs.get(ids[1]).status == "failed"
    assert {a.name for a in store.runs.list_artifacts(ids[0])} == {
        "weights0.txt",
        "ckpt/weights0.txt",
    }
    assert store.runs.artifact_file(ids[0], "ckpt/weights0.txt").read_text() == "weights 0"
    again = CliRunner().invoke(app, ["import", "mlflow", str(folder)])
    assert "imported 0 run(s), 0 point(s), 0 artifact(s); 2 already there" in again.output
    assert store.runs.get(ids[0]).metrics["loss"].count == 300
    assert store.runs.count("vision") == 2


def test_import_mlflow_refuses_a_missing_source(tmp_path: Path, session: object) -> None:
    from loopml.cli import app

    result = CliRunner().invoke(app, ["import", "mlflow", str(tmp_path / "nope")])
    assert result.exit_code != 0
