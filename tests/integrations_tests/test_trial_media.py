"""Media (loopml.Image, Histogram, Table) logged inside a sweep's function trial."""

from __future__ import annotations

import numpy as np
import pytest
from starlette.testclient import TestClient

import loopml
from loopml.server import create_app
from loopml.tracking import default_session, read_media
from tests.integrations_tests._objectives import media_objective


def test_media_logged_in_function_trials_are_stored_with_their_runs(session: object) -> None:
    """On each store backend (``session``: SQLite, and PostgreSQL when configured)."""
    sweep = loopml.sweep(
        media_objective,
        {"seed": loopml.choice([1, 2])},
        n_trials=2,
        sampler="grid",
        progress=False,
    )
    trials = sweep.trials
    assert sorted(trials["state"]) == ["finished", "finished"]
    store = default_session().store
    for run_id, seed in zip(trials["run_id"], trials["params.seed"], strict=True):
        media = read_media(store, run_id)
        assert sorted(media) == ["preds", "samples", "weights"]
        images = media["samples"]
        assert [m.step for m in images] == [0, 1, 2] and images[1].caption == "step 1"
        png = store.runs.artifact_file(run_id, images[2].data["file"]).read_bytes()
        assert png.startswith(b"\x89PNG")
        from PIL import Image as PILImage

        pixels = np.asarray(PILImage.open(store.runs.artifact_file(run_id, images[2].data["file"])))
        assert pixels.shape == (4, 6, 3) and int(pixels[0, 0, 0]) == 80 + seed
        hist = media["weights"]
        assert [h.step for h in hist] == [0, 1, 2] and sum(hist[0].data["counts"]) == 200
        assert media["preds"][0].step == 3 and media["preds"][0].data["columns"] == ["y", "p"]
        rec = loopml.get_run(run_id)
        # val_acc: the sweep's default metric, logged from the objective's return value
        assert rec.metrics["loss"].count == 3 and sorted(rec.metrics) == ["loss", "val_acc"]
    # the trial's run page shows them like any run's
    client = TestClient(create_app(store), base_url="http://127.0.0.1")
    page = client.get(f"/runs/{trials['run_id'][0]}")
    assert page.status_code == 200
    assert "samples" in page.text and "media/samples/step-00000002.image.png" in page.text


def test_a_bad_media_value_in_a_trial_fails_the_trial_and_logs_nothing_of_that_call() -> None:
    def objective(params: dict[str, object], run: loopml.BaseRun) -> float:
        run.log({"loss": 0.5})
        try:
            run.log({"loss": 0.4, "img": loopml.Image(np.zeros((2, 2, 2)))})  # 2 channels
        except loopml.LoopmlError:
            run.log({"caught": 1.0})
        run.log({"hist": loopml.Histogram([float("nan")])})  # raises: fails the trial
        return 1.0

    sweep = loopml.sweep(objective, {"x": loopml.choice([1])}, n_trials=1, progress=False)
    (state,) = sweep.trials["state"]
    assert state == "failed"
    run_id = sweep.trials["run_id"][0]
    rec = loopml.get_run(run_id)
    assert "none is a finite number" in (rec.error or "")
    assert read_media(default_session().store, run_id) == {}
    assert rec.metrics["loss"].count == 1 and rec.metrics["caught"].count == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bad", object()),
        ("bad", "text"),
        ("a//b", loopml.Histogram([1.0, 2.0])),  # a valid metric key, not an artifact path
        ("../up", loopml.Histogram([1.0, 2.0])),
    ],
)
def test_a_bad_value_or_media_key_is_refused_when_logged(key: str, value: object) -> None:
    from loopml.sweeps._trial import TrialChannel, TrialRun, TrialSpec

    run = TrialRun(TrialSpec(0, "0" * 16, "t", "p", {}), TrialChannel(0, "objective", None))
    with pytest.raises(loopml.LoopmlError):
        run.log({"img": loopml.Image(np.zeros((2, 2), np.uint8)), key: value})
    assert run.points == [] and run.files == {}
