"""Demo stage 1: train a few scikit-learn models on the digits data, logging every epoch."""

from __future__ import annotations

import warnings
from typing import Any

from rich.console import Console
from rich.progress import Progress

PROJECT = "digits"


def load_digits_split(seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """The bundled digits data (1,797 8x8 images), scaled and split 75/25, stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    return tuple(train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y))


def _models(seed: int) -> list[tuple[str, dict[str, Any], Any]]:
    from sklearn.linear_model import SGDClassifier
    from sklearn.neural_network import MLPClassifier

    return [
        (
            "sgd-hinge",
            {"model": "sgd", "loss": "hinge", "alpha": 1e-4},
            SGDClassifier(loss="hinge", alpha=1e-4, random_state=seed),
        ),
        (
            "sgd-logloss",
            {"model": "sgd", "loss": "log_loss", "alpha": 1e-3},
            SGDClassifier(loss="log_loss", alpha=1e-3, random_state=seed),
        ),
        (
            "mlp-64",
            {"model": "mlp", "hidden": 64, "lr": 1e-3},
            MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=1e-3, random_state=seed),
        ),
        (
            "mlp-128",
            {"model": "mlp", "hidden": 128, "lr": 3e-3},
            MLPClassifier(hidden_layer_sizes=(128,), learning_rate_init=3e-3, random_state=seed),
        ),
    ]


def previous_runs(names: list[str]) -> list[Any]:
    """The runs an earlier demo left in ``PROJECT`` (tagged ``stage=baseline``), oldest first."""
    from loopml.tracking import default_session

    store = default_session().store
    runs = store.runs.search(PROJECT, "tags.stage = 'baseline'", "created_at", None)
    return [r for r in runs if r.name in names]


def train_models(console: Console, epochs: int = 15, seed: int = 0) -> list[str]:
    """Train each model epoch by epoch with ``partial_fit``; returns the run ids.

    A rerun reuses the runs of an earlier demo when all of them finished (the same seed gives the
    same results), and replaces them when it was interrupted, so the project never holds the
    same model twice.
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, log_loss

    import loopml
    from loopml.tracking import default_session

    models = _models(seed)
    names = [name for name, _, _ in models]
    old = previous_runs(names)
    if sorted(r.name for r in old) == sorted(names) and all(r.status == "finished" for r in old):
        console.print(
            f"   reusing the {len(old)} runs of a previous demo in project {PROJECT!r} "
            f"(to train again: loopml runs delete --project {PROJECT} --yes)",
            markup=False,
        )
        return [r.id for r in old]
    if old:
        default_session().store.runs.delete([r.id for r in old])
        console.print(f"   replaced {len(old)} runs left by an interrupted demo", markup=False)
    x_tr, x_te, y_tr, y_te = load_digits_split(seed)
    classes = np.unique(y_tr)
    ids = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("training", total=len(models) * epochs)
        for name, config, model in models:
            with loopml.init(
                project=PROJECT, name=name, config={**config, "epochs": epochs, "seed": seed}
            ) as run:
                run.set_tags({"stage": "baseline", "data": "sklearn.load_digits"})
                for epoch in range(epochs):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model.partial_fit(x_tr, y_tr, classes=classes)
                    metrics = {
                        "train_acc": accuracy_score(y_tr, model.predict(x_tr)),
                        "val_acc": accuracy_score(y_te, model.predict(x_te)),
                    }
                    if hasattr(model, "predict_proba"):
                        metrics["val_loss"] = log_loss(
                            y_te, model.predict_proba(x_te), labels=classes
                        )
                    run.log(metrics, step=epoch)
                    progress.advance(task)
                ids.append(run.id)
    return ids
