"""The stock ``mlflow`` client against a loopml team server (the MLflow REST subset)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml._config import Settings
from loopml.store import Store
from tests._team import TeamServer

mlflow = pytest.importorskip(
    "mlflow", reason="the MLflow compatibility tests need the mlflow package (pip install mlflow)"
)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TeamServer]:
    store = Store(Settings(data_dir=tmp_path / "server"))
    team = TeamServer(store)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", team.admin_token)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(team.url)
    yield team
    mlflow.set_tracking_uri(None)
    team.stop()
    store.close()


def test_the_stock_client_logs_runs_that_appear_in_loopml(
    server: TeamServer, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    exp_id = client.create_experiment("mnist")
    assert client.get_experiment(exp_id).name == "mnist"
    assert client.get_experiment_by_name("mnist").experiment_id == exp_id
    assert client.get_experiment_by_name("nope") is None
    assert "mnist" in {e.name for e in client.search_experiments()}

    mlflow.set_experiment("mnist")
    with mlflow.start_run(run_name="first") as active:
        run_id = active.info.run_id
        mlflow.log_param("lr", "0.01")
        mlflow.set_tag("team", "vision")
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        from mlflow.entities import Metric, Param, RunTag

        client.log_batch(
            run_id,
            metrics=[Metric("acc", 0.5 + i / 100, 1_700_000_000_000 + i, i) for i in range(100)],
            params=[Param("layers", "3")],
            tags=[RunTag("stage", "dev")],
        )
        art = tmp_path / "notes.txt"
        art.write_text("hello from mlflow")
        mlflow.log_artifact(str(art))
        mlflow.log_artifact(str(art), artifact_path="sub")

    got = client.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "first"
    assert got.data.params == {"lr": "0.01", "layers": "3"}
    assert got.data.tags["team"] == "vision" and got.data.tags["stage"] == "dev"
    assert got.data.metrics["acc"] == pytest.approx(1.49)
    history = client.get_metric_history(run_id, "acc")
    assert [m.step for m in history] == list(range(100))
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [
        1.0 / (s + 1) for s in range(5)
    ]
    names = sorted(a.path for a in client.list_artifacts(run_id))
    assert names == ["notes.txt", "sub"]
    assert [a.path for a in client.list_artifacts(run_id, "sub")] == ["sub/notes.txt"]
    local = client.download_artifacts(run_id, "notes.txt", str(tmp_path / "dl"))
    assert Path(local).read_text() == "hello from mlflow"

    found = client.search_runs([exp_id], "metrics.acc > 0.5", order_by=["metrics.acc DESC"])
    assert [r.info.run_id for r in found] == [run_id]
    assert client.search_runs([exp_id], "metrics.acc > 2") == []

    # the run is an ordinary loopml run: in the store, its series complete
    record = server.store.runs.get(run_id)
    assert record.project == "mnist" and record.status == "finished"
    assert record.metrics["acc"].count == 100 and record.metrics["loss"].count == 5
    assert {a.name for a in server.store.runs.list_artifacts(run_id)} == {
        "notes.txt",
        "sub/notes.txt",
    }
    client.delete_run(run_id)
    assert server.store.runs.status(run_id) is None


def test_mlflow_without_a_token_or_with_a_foreign_project_is_refused(
    server: TeamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    with pytest.raises(MlflowException):
        MlflowClient().search_experiments()
    server.store.users.add("eve", "member", "mine")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.store.users.create_token("eve"))
    client = MlflowClient()
    assert client.create_experiment("mine")
    with pytest.raises(MlflowException, match="may not"):
        client.create_experiment("theirs")


def test_nan_and_infinite_metrics_round_trip(server: TeamServer) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "odd", math.nan, step=0)
    client.log_metric(run.info.run_id, "odd", math.inf, step=1)
    values = [m.value for m in client.get_metric_history(run.info.run_id, "odd")]
    assert math.isnan(values[0]) and values[1] == math.inf
