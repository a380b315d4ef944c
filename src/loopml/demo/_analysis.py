"""Demo stage: error analysis of the best demo model on the digits test split.

Evaluate it (the metrics land on its run), tag its errors (low confidence, suspected label errors,
faint images), print the top rows of the ceiling table and the discovered slices, and send the
top group to labeling with the reason recorded.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EVAL_DATASET", "analyse_digits"]

EVAL_DATASET = "digits-eval"


def _frame() -> Any:
    import pandas as pd
    from sklearn.datasets import load_digits

    from loopml.demo._labeling import png

    x, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(x / 16.0, columns=[f"p{i}" for i in range(64)])
    frame.insert(0, "id", [f"digit-{i:04d}" for i in range(len(y))])
    frame.insert(1, "label", y)
    frame.insert(2, "image", [png(row) for row in x])
    # Properties of each image to slice by: how bright it is and how much ink it has.
    frame["brightness"] = (x / 16.0).mean(1).round(4)
    frame["ink"] = (x > 4).mean(1).round(4)
    return frame


def _best_run(project: str) -> tuple[str | None, dict[str, Any]]:
    import loopml

    try:
        frame = loopml.runs(
            project, where="tags.stage = 'baseline'", order_by="-metrics.val_acc", limit=1
        )
    except (loopml.NotFoundError, loopml.QueryError):  # the tracking stage has not run
        return None, {}
    if frame.empty:
        return None, {}
    row = frame.iloc[0]
    params = {str(k)[len("params.") :]: v for k, v in row.items() if str(k).startswith("params.")}
    return str(row["id"]), params


def _model(params: dict[str, Any]) -> Any:
    from sklearn.linear_model import SGDClassifier
    from sklearn.neural_network import MLPClassifier

    if params.get("model") == "mlp":
        return MLPClassifier(
            hidden_layer_sizes=(int(params.get("hidden", 64)),),
            learning_rate_init=float(params.get("lr", 1e-3)),
            max_iter=int(params.get("epochs", 15)),
            random_state=0,
        )
    return SGDClassifier(loss="log_loss", alpha=float(params.get("alpha", 1e-3)), random_state=0)


def analyse_digits(console: Console, project: str = "digits") -> dict[str, Any]:
    """Run the stage and print what it found; returns the key figures."""
    from rich.table import Table
    from rich.text import Text

    import loopml
    from loopml._format import fmt_value

    console.print(
        "5. error analysis: evaluate the best model, tag errors, ceiling table, slices, "
        "send the top group to labeling"
    )
    version = loopml.datasets.create(
        EVAL_DATASET, _frame(), split={"train": 0.75, "test": 0.25},
        metadata=["brightness", "ink"], note="digits with labels, for evaluation",
    )  # fmt: skip
    run_id, params = _best_run(project)
    train = version.to_pandas(split="train")
    features = [f"p{i}" for i in range(64)]
    model = _model(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train[features].to_numpy(), train["label"])
    ev = loopml.evaluate(model, version, split="test", run=run_id)
    acc = ev.metrics["accuracy"]
    console.print(
        f"   evaluation {ev.id[:8]} of run {(run_id or '-')[:8]} on {version.ref} test: "
        f"accuracy {acc.value:.3f} [{acc.low:.3f}, {acc.high:.3f}], "
        f"macro F1 {ev.metrics['macro_f1'].value:.3f}, ECE {ev.metrics['ece'].value:.3f}"
    )
    ev.auto_tag("low-confidence", threshold=0.6)
    ev.auto_tag("suspected-label-error")
    ev.tag("faint", where="ink < 0.3", errors_only=True)
    cm = ev.confusion()
    pairs = [(t, p) for t in cm.index for p in cm.columns if t != p]
    t, p = max(pairs, key=lambda tp: cm.loc[tp[0], tp[1]])
    ev.tag(f"{t}-read-as-{p}", where=f"truth = '{t}' and prediction = '{p}'")
    ceiling = ev.ceiling(by="tags")
    table = Table(title="ceiling table: accuracy gain if each tag's errors were fixed")
    for col in ("tag", "errors", "share", "error rate", "gain", "interval"):
        table.add_column(col, justify="left" if col == "tag" else "right")
    for r in ceiling.head(4).itertuples():
        table.add_row(
            Text(str(r.tag)), str(r.errors), fmt_value(r.share), fmt_value(r.error_rate),
            fmt_value(r.gain), f"[{fmt_value(r.gain_low)}, {fmt_value(r.gain_high)}]",
        )  # fmt: skip
    console.print(table)
    found = ev.discover_slices(k=3, max_predicates=2)
    if found.empty:
        console.print("   slice discovery: no slice with significantly more errors than overall")
    for r in found.itertuples():
        console.print(
            Text(
                f"   slice {r.slice}: {r.size} examples, error rate {r.error_rate:.2f}, "
                f"p {r.p_value:.2g}, gain {r.gain:.3f}"
            )
        )
    top = str(ceiling.iloc[0]["tag"])
    req = ev.send_to_labeling(tag=top, project=f"{EVAL_DATASET}-review", annotators=["ana", "ben"])
    console.print(
        f"   sent tag '{top}' ({len(req.item_ids)} items) to labeling project {req.project} "
        f"batch {req.batch}: {req.reason}",
        markup=False,
    )
    return {
        "evaluation": ev.id,
        "accuracy": acc.value,
        "top_tag": top,
        "slices": list(found["slice"]),
        "sent": len(req.item_ids),
    }
