"""Labeling benchmark: label-issue detection vs cleanlab, agreement at 1M annotations, queue latency.

    python benchmarks/labeling.py                 # everything (several minutes on 2 cores)
    python benchmarks/labeling.py --only issues --seeds 5 --hgb-iter 100

1. load_digits with 10% of labels flipped (seeded), out-of-sample probabilities by 5-fold
   cross-validation (LogisticRegression, HistGradientBoosting). Precision and recall of the
   suspected set against the flipped set: cleanlab's ``find_label_issues`` used directly (the
   anchor) vs loopml on the same probabilities, alone and with the votes of two more simulated
   annotators on half of the items (each right 80% of the time).
2. Agreement statistics (Cohen, Fleiss, Krippendorff, per class, confusions) over 1,000,000
   annotations read from the SQLite store: target < 2 s.
3. The annotator queue's next item with 1,000,000 items in the project: target < 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, Timer, fmt_seconds, print_machine, print_table, temp_dir


def _flip(y: np.ndarray, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = len(y)
    idx = rng.choice(n, int(rate * n), replace=False)
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, 10, len(idx))) % 10
    return noisy, idx


def _pr(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hit = len(np.intersect1d(found, truth))
    return hit / max(len(found), 1), hit / len(truth)


def bench_issues(seeds: int, hgb_iter: int) -> list[Row]:
    """Precision/recall of label-issue detection, loopml vs cleanlab on the same probabilities."""
    from cleanlab.filter import find_label_issues as cleanlab_find
    from sklearn.datasets import load_digits
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from loopml.labeling import find_label_issues

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    models = {
        "LogisticRegression": lambda: LogisticRegression(max_iter=2000),
        f"HistGradientBoosting({hgb_iter} iter)": lambda: HistGradientBoostingClassifier(
            max_iter=hgb_iter, random_state=0
        ),
    }
    rows = []
    for name, make in models.items():
        res: dict[str, list[tuple[float, float]]] = {
            "cleanlab": [],
            "loopml": [],
            "loopml+votes": [],
        }
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            noisy, flipped = _flip(y, 0.10, rng)
            cv = StratifiedKFold(5, shuffle=True, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                probs = cross_val_predict(make(), x, noisy, cv=cv, method="predict_proba")
            res["cleanlab"].append(
                _pr(
                    cleanlab_find(noisy, probs, return_indices_ranked_by="self_confidence"), flipped
                )
            )
            res["loopml"].append(_pr(find_label_issues(noisy, probs).indices, flipped))
            # Half of the items were also labeled by two more annotators (80% right each).
            extra = rng.choice(len(y), len(y) // 2, replace=False)
            rows_v, ann_v, lab_v = [np.arange(len(y))], [np.zeros(len(y), int)], [noisy]
            for a in (1, 2):
                right = rng.random(len(extra)) < 0.8
                rows_v.append(extra)
                ann_v.append(np.full(len(extra), a))
                lab_v.append(
                    np.where(right, y[extra], (y[extra] + rng.integers(1, 10, len(extra))) % 10)
                )
            votes = (np.concatenate(rows_v), np.concatenate(ann_v), np.concatenate(lab_v))
            res["loopml+votes"].append(_pr(find_label_issues(noisy, probs, votes).indices, flipped))
        mean = {
            k: (statistics.mean(p for p, _ in v), statistics.mean(r for _, r in v))
            for k, v in res.items()
        }
        c = mean["cleanlab"]
        for variant in ("loopml", "loopml+votes"):
            o = mean[variant]
            rows.append(
                Row(
                    f"label issues, {name}, {variant} ({seeds} seeds)",
                    f"P {o[0]:.3f} / R {o[1]:.3f}",
                    f"P {c[0]:.3f} / R {c[1]:.3f}",
                    f"P {o[0] / c[0]:.2f}x / R {o[1] / c[1]:.2f}x",
                    "match (>= 1.00x)",
                    ok=o[0] >= c[0] - 1e-9 and o[1] >= c[1] - 1e-9,
                    notes=["same out-of-sample probabilities for both"]
                    + (
                        ["+ votes of 2 more annotators on 50% of items"]
                        if variant != "loopml"
                        else []
                    ),
                )
            )
    return rows


def _project_with_items(store: object, n_items: int, name: str) -> object:
    import pandas as pd

    from loopml.datasets import create
    from loopml.labeling import create_project

    frame = pd.DataFrame(
        {"id": [f"i{i}" for i in range(n_items)], "x": np.arange(n_items, dtype=np.float64)}
    )
    v = create(name, frame, store=store)  # type: ignore[arg-type]
    p = create_project(f"{name}-labels", v, [str(c) for c in range(10)], overlap=3, store=store)  # type: ignore[arg-type]
    p.publish_guidelines("g", note="v1")
    return p


def bench_agreement(n_annotations: int) -> list[Row]:
    """Agreement statistics over ``n_annotations`` stored annotations (3 per item, 2 versions)."""
    from sklearn.metrics import cohen_kappa_score

    from loopml._config import Settings
    from loopml.store import Store
    from loopml.store._schema_labeling import annotations

    with temp_dir() as d:
        store = Store(Settings(data_dir=d))
        n_items = n_annotations // 3
        p = _project_with_items(store, n_items, "agree")
        ids = p.add_annotators([f"a{i}" for i in range(20)])
        ann_ids = sorted(p.store and [a["id"] for a in p.annotators()])
        rng = np.random.default_rng(0)
        truth = rng.integers(0, 10, n_items)
        item = np.repeat(np.arange(n_items), 3)
        who = np.array(ann_ids)[(np.tile(np.arange(3), n_items) + item) % len(ids)]
        label = np.where(rng.random(len(item)) < 0.8, truth[item], rng.integers(0, 10, len(item)))
        version = np.where(item < n_items // 2, 1, 2)
        p.publish_guidelines("g2", note="v2", affects=[])
        with Timer() as load:
            cols = (
                "project_id",
                "item_idx",
                "annotator_id",
                "label",
                "guideline_version",
                "kind",
                "flag",
                "created_at",
            )
            rows = list(
                zip(
                    [p.id] * len(item),
                    item.tolist(),
                    who.tolist(),
                    label.tolist(),
                    version.tolist(),
                    [0] * len(item),
                    [False] * len(item),
                    [0.0] * len(item),
                    strict=True,
                )
            )
            with store.engine.begin() as conn:
                for s in range(0, len(rows), 100_000):
                    conn.execute(
                        annotations.insert(),
                        [dict(zip(cols, r, strict=True)) for r in rows[s : s + 100_000]],
                    )
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            stats = p.agreement()
            runs.append(time.perf_counter() - t0)
        ours = statistics.median(runs)
        # Anchor for one statistic: scikit-learn's cohen_kappa_score over every annotator pair.
        t0 = time.perf_counter()
        n_pairs = 0
        for v in (1, 2):
            m = version == v
            it, wh, lb = item[m], who[m], label[m]
            for a in ann_ids:
                for b in ann_ids:
                    if a < b:
                        ia, ib = it[wh == a], it[wh == b]
                        common, xa, xb = np.intersect1d(ia, ib, return_indices=True)
                        if len(common) >= 5:
                            cohen_kappa_score(lb[wh == a][xa], lb[wh == b][xb])
                            n_pairs += 1
        sk = time.perf_counter() - t0
        store.close()
    s = stats[0]
    return [
        Row(
            f"agreement over {n_annotations:,} annotations (SQLite; read + Cohen + Fleiss + Krippendorff + per class + confusions, 2 versions)",
            fmt_seconds(ours),
            fmt_seconds(sk),
            f"{sk / ours:.1f}x",
            "< 2 s",
            ok=ours < 2.0,
            notes=[
                f"anchor: sklearn cohen_kappa_score over {n_pairs} annotator pairs only (arrays already in memory)",
                f"v1 alpha {s.krippendorff_alpha:.3f}, Fleiss {s.fleiss_kappa:.3f}; bulk load {load.seconds:.1f}s (setup)",
            ],
        )
    ]


def bench_queue(n_items: int, samples: int) -> list[Row]:
    """Latency of the next queue item (and of labeling it) with ``n_items`` items queued."""
    from loopml._config import Settings
    from loopml.store import Store

    with temp_dir() as d:
        store = Store(Settings(data_dir=d))
        with Timer() as setup:
            p = _project_with_items(store, n_items, "queue")
            p.add_annotators(["ann", "bo", "cy"])
            p.assign(overlap=1, limit=None)
        nexts, labels, reads = [], [], []
        for i in range(samples):
            t0 = time.perf_counter()
            q = p.next_item(["ann", "bo", "cy"][i % 3])
            nexts.append(time.perf_counter() - t0)
            assert q is not None
            t0 = time.perf_counter()
            p.item(q.item_id)
            reads.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            p.annotate(["ann", "bo", "cy"][i % 3], q.item_id, "3")
            labels.append(time.perf_counter() - t0)
        store.close()
    p50 = statistics.median(nexts)
    p99 = sorted(nexts)[int(0.99 * (len(nexts) - 1))]
    return [
        Row(
            f"annotator queue: next item, {n_items:,} items queued (SQLite)",
            f"p50 {fmt_seconds(p50)} / p99 {fmt_seconds(p99)}",
            "-",
            "-",
            "< 50 ms",
            ok=p99 < 0.05,
            notes=[
                f"{samples} calls; reading the item's row p50 {fmt_seconds(statistics.median(reads))}; labeling it p50 {fmt_seconds(statistics.median(labels))}",
                f"setup (1M-item dataset, project, assigning 1M queue entries) {setup.seconds:.1f}s",
            ],
        )
    ]


def main() -> None:
    """Run the chosen parts and print one side-by-side table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["issues", "agreement", "queue"], action="append")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--hgb-iter", type=int, default=100)
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    args = parser.parse_args()
    parts = args.only or ["issues", "agreement", "queue"]
    import cleanlab
    import sklearn

    print_machine(extra={"cleanlab": cleanlab.__version__, "scikit-learn": sklearn.__version__})
    rows: list[Row] = []
    if "agreement" in parts:
        rows += bench_agreement(args.annotations)
    if "queue" in parts:
        rows += bench_queue(args.items, 300)
    if "issues" in parts:
        rows += bench_issues(args.seeds, args.hgb_iter)
    print_table(rows, "labeling", ours="loopml", theirs="anchor (cleanlab / scikit-learn)")


if __name__ == "__main__":
    main()
