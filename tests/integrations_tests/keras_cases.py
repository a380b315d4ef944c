"""Keras 3 callback: a real model trained for a few epochs on the JAX backend.

Run by ``test_keras.py`` in a pytest process of its own: JAX starts threads when imported, and
the sweep tests later in the suite fork worker processes, which must not inherit them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import loopml

keras = pytest.importorskip("keras", reason="the Keras integration tests need keras and jax")
pytest.importorskip("jax", reason="the Keras integration tests run on the JAX backend")


def _model() -> Any:
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    return x, (x[:, :1] * 3 + 1).astype("float32")


def test_epochs_and_batches_are_logged() -> None:
    from loopml.integrations.keras import Callback

    x, y = _data()
    cb = Callback(project="keras", log_every_n_batches=2)
    history = _model().fit(
        x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0, callbacks=[cb]
    )
    rec = loopml.get_run(cb.run.id)
    assert rec.status == "finished"
    assert keras.backend.backend() == "jax" and rec.params["keras_backend"] == "jax"
    for key in ("loss", "val_loss", "mae", "val_mae"):
        assert rec.metrics[key].count == 3 and rec.metrics[key].last_step == 2
    assert rec.metrics["loss"].last == pytest.approx(history.history["loss"][-1], rel=1e-5)
    # 6 batches per epoch, every 2nd logged: 9 points at global batch steps 2, 4, ..., 18.
    assert rec.metrics["batch/loss"].count == 9 and rec.metrics["batch/loss"].last_step == 18
    assert rec.params["epochs"] == 3 and rec.params["optimizer"] == "Adam"
    assert rec.params["learning_rate"] == pytest.approx(0.01)


def test_without_batch_logging_keras_keeps_dispatching_batch_hooks_asynchronously() -> None:
    """Overriding a batch hook makes Keras call it on the training thread with each batch's
    logs turned into Python numbers; the callback does so only when it logs batches."""
    from keras.src.callbacks.callback_list import CallbackList

    from loopml.integrations.keras import Callback

    assert CallbackList([Callback(project="keras-async")])._async_train
    assert not CallbackList([Callback(project="keras-async", log_every_n_batches=1)])._async_train


def test_logs_into_an_open_run() -> None:
    from loopml.integrations.keras import Callback

    x, y = _data()
    with loopml.init(project="keras-open", config={"units": 16}) as run:
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[Callback()])
        assert run.status == "running"  # the callback leaves a run it did not start open
    rec = loopml.get_run(run.id)
    assert rec.params["units"] == 16 and rec.metrics["loss"].count == 2


class _PruningRun:
    """A stand-in for a sweep trial's run whose pruner says stop after the second report."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, int]] = []
        self.logged: list[dict[str, float]] = []
        self.status = "running"

    def log(self, values: dict[str, float], step: int | None = None) -> None:
        self.logged.append(values)

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_stop(self) -> bool:
        return len(self.reports) >= 2


def test_prune_on_stops_training_when_the_sweep_says_so() -> None:
    from loopml.integrations.keras import Callback

    x, y = _data()
    run = _PruningRun()
    cb = Callback(run, prune_on="val_loss")
    history = _model().fit(x, y, epochs=10, validation_split=0.25, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 2 and cb.pruned
    assert [s for _, s in run.reports] == [0, 1]


def test_bad_input() -> None:
    from loopml.integrations.keras import Callback

    with pytest.raises(loopml.ValidationError, match="log_every_n_batches"):
        Callback(log_every_n_batches=-1)
    x, y = _data()
    with pytest.raises(loopml.ValidationError, match="prune_on='val_acc' is not among"):
        _model().fit(
            x, y, epochs=1, verbose=0, callbacks=[Callback(project="k", prune_on="val_acc")]
        )


def test_unsupported_version_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.integrations import keras as integration

    monkeypatch.setattr(keras, "__version__", "2.15.0")
    monkeypatch.setattr(integration, "_built", {})
    with pytest.raises(
        loopml.UnsupportedVersionError, match=r"keras 2.15.0 is not supported .* keras>=3.0,<4"
    ):
        _ = integration.Callback
