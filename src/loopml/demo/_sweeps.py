"""Demo stage 2: a short sweep on digits (SGD trained epoch by epoch, ASHA pruning)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from loopml._format import fmt_value
from loopml.demo._tracking import PROJECT, load_digits_split

# Its own project, so stage 1's project lists only stage 1's runs (pruned trials are expected here).
SWEEP_PROJECT = f"{PROJECT}-sweeps"

EPOCHS = 15


def _setup() -> Any:
    import sklearn.linear_model  # noqa: F401 - imported once, before the workers fork

    return load_digits_split(seed=0)


def sgd_objective(params: dict[str, Any], run: Any) -> float:
    """Train an SGD classifier for up to ``EPOCHS`` epochs, reporting validation accuracy."""
    import warnings

    import numpy as np
    from sklearn.linear_model import SGDClassifier

    from loopml.sweeps import worker_data

    x_train, x_val, y_train, y_val = worker_data()
    model = SGDClassifier(
        loss=params["loss"],
        alpha=params["alpha"],
        learning_rate="constant",
        eta0=params["eta0"],
        random_state=0,
    )
    classes = np.unique(y_train)
    acc = 0.0
    for epoch in range(EPOCHS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_train, y_train, classes=classes)
        acc = float(model.score(x_val, y_val))
        run.report(acc, epoch)
        if run.should_stop():
            break
    return acc


def _previous_sweep(n_trials: int) -> Any:
    """The sweep an earlier demo ran to the end, or None (an unfinished one is run again)."""
    from loopml.sweeps import load_sweep
    from loopml.tracking import default_session

    runs = default_session().store.runs.search(SWEEP_PROJECT, "name like 'sgd-asha-%'", None, 1)
    if not runs or not runs[0].sweep_id:
        return None
    sweep = load_sweep(runs[0].sweep_id)
    trials = sweep.trials
    done = trials["state"].isin(["finished", "pruned"]).sum() if len(trials) else 0
    return sweep if done == n_trials else None


def sweep_digits(console: Console, n_trials: int = 24) -> str:
    """Run the sweep with a progress bar, print its best trials and importances; returns its id."""
    import loopml

    space = {
        "loss": loopml.choice(["hinge", "log_loss", "modified_huber"]),
        "alpha": loopml.loguniform(1e-6, 1e-1),
        "eta0": loopml.loguniform(1e-4, 1.0),
    }
    sweep = _previous_sweep(n_trials)
    if sweep is not None:
        console.print(
            f"reusing sweep {sweep.id[:8]} of a previous demo (same seed, same trials)",
            markup=False,
        )
    else:
        sweep = loopml.sweep(
            sgd_objective, space, metric="val_acc", n_trials=n_trials, parallel=2, pruner="asha",
            seed=0, setup=_setup, project=SWEEP_PROJECT, name="sgd-asha", progress=True,
        )  # fmt: skip
    trials = sweep.trials
    pruned = int((trials["state"] == "pruned").sum())
    epochs = sum(len(t.intermediate) for t in sweep.trial_rows())
    console.print(
        f"{len(trials)} trials, {pruned} pruned by ASHA: {epochs} of {len(trials) * EPOCHS} epochs computed"
    )
    best = trials[trials["state"] == "finished"].sort_values("value", ascending=False).head(5)
    table = Table(title=f"sweep {sweep.id}: best trials", header_style="bold")
    for col in ("#", "run", "val_acc", "loss", "alpha", "eta0"):
        table.add_column(col, justify="left" if col in ("run", "loss") else "right")
    for _, row in best.iterrows():
        table.add_row(
            str(row["number"]), row["run_id"][:8], fmt_value(row["value"]),
            str(row["params.loss"]), fmt_value(row["params.alpha"]), fmt_value(row["params.eta0"]),
        )  # fmt: skip
    console.print(table)
    importances = sweep.importances()
    if importances:
        console.print(
            "param importances: " + ", ".join(f"{k} {v:.2f}" for k, v in importances.items())
        )
    console.print(f"see it again with: loopml sweep show {sweep.id[:8]}")
    return sweep.id
