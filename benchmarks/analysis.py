"""Error-analysis benchmark: evaluation and slice metrics, slice discovery vs sliceline, ceiling
table and comparison, side by side in one run.

    python benchmarks/analysis.py                      # everything (a few minutes on 2 cores)
    python benchmarks/analysis.py --only discovery --sliceline-rows 4000

1. Evaluation + every single-predicate slice metric on 1,000,000 rows x 20 metadata columns
   (target < 3 s), beside the same computation in pandas (accuracy, balanced accuracy, macro F1,
   log loss and per-slice accuracy by groupby; no bootstrap intervals, no storage).
2. Slice discovery on planted-slice data (20 categorical columns of 4-8 levels, base error 10%,
   two planted 2-predicate slices at 50% and 55% error, one 3-predicate slice at 60%):
   ``sliceline`` (the anchor) beside loopml at a few thousand rows, each in its own process with
   its time, peak memory and planted slices found in its top 5; then loopml alone at 100,000 and
   1,000,000 rows (target: all 3 planted slices in the top 5, none of their sub-slices above
   them, < 10 s and < 1 GB peak at 1,000,000 rows).
   sliceline builds dense matrices: the issue measured 88 s and 17 GB at 10,000 rows, and it
   asks for 76 GiB at 100,000. This machine is shared (24 GB for several people), so sliceline
   runs here at ``--sliceline-rows`` (default 3,000; 4,000 already hit the cap here) under an 8 GB
   address-space cap; the
   10,000-row figure is the issue's and was NOT rerun.
3. Ceiling table (by tags and by slices) and comparison of two 1,000,000-row evaluations
   (target < 2 s each), beside pandas doing the same counts.

Times are wall-clock with the process CPU time beside them: on a loaded shared machine the wall
time can be several times the CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import Row, fmt_seconds, print_machine, print_table, temp_dir

PLANTED: list[tuple[dict[str, int], float]] = [
    ({"c1": 2, "c4": 1}, 0.50),
    ({"c7": 0, "c12": 3}, 0.55),
    ({"c2": 1, "c9": 2, "c15": 0}, 0.60),
]
N_COLS = 20
SLICELINE_CAP = 8_000_000_000  # bytes of address space for the anchor's process


def planted_data(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """20 categorical columns c0..c19 (4-8 levels), truth, and predictions with planted errors."""
    rng = np.random.default_rng(seed)
    cols = {f"c{i}": rng.integers(0, 4 + i % 5, n).astype(np.int64) for i in range(N_COLS)}
    rate = np.full(n, 0.10)
    for preds, r in PLANTED:
        mask = np.ones(n, dtype=bool)
        for c, v in preds.items():
            mask &= cols[c] == v
        rate[mask] = r
    truth = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < rate, 1 - truth, truth)
    return cols, truth, pred


def planted_names() -> list[set[str]]:
    """Each planted slice as a set of predicates in the filter language."""
    return [{f"{c} = {v}" for c, v in preds.items()} for preds, _ in PLANTED]


def score_top(found: list[set[str]]) -> tuple[int, bool]:
    """(planted slices in the list, whether a sub-slice of one ranks above that planted slice)."""
    hits = 0
    sub_above = False
    for planted in planted_names():
        rank = next((i for i, s in enumerate(found) if s == planted), None)
        if rank is not None:
            hits += 1
            sub_above |= any(planted < s for s in found[:rank])
        else:
            sub_above |= any(planted < s for s in found)
    return hits, sub_above


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, it does not carry over
    the parent's peak through fork and exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0

    def __str__(self) -> str:
        return f"{fmt_seconds(self.wall)} (cpu {fmt_seconds(self.cpu)})"


# -- child processes: one measurement each, its result as one JSON line ----------------------------


def child_sliceline(n: int) -> dict[str, Any]:
    """Run sliceline on n planted rows (inside a memory-capped child)."""
    import pandas as pd
    from sliceline.slicefinder import Slicefinder

    cols, truth, pred = planted_data(n)
    x = pd.DataFrame(cols)
    errors = (truth != pred).astype(float)
    with Clock() as c:
        sf = Slicefinder(alpha=0.95, k=5, max_l=3, min_sup=max(10, n // 1000), verbose=False)
        sf.fit(x, errors)
    found = []
    for row in np.asarray(sf.top_slices_):
        found.append(
            {f"{col} = {int(v)}" for col, v in zip(x.columns, row, strict=True) if v is not None}
        )
    hits, sub_above = score_top(found[:5])
    return {"wall": c.wall, "cpu": c.cpu, "peak_mb": _peak_mb(), "hits": hits,
            "sub_above": sub_above, "found": [sorted(s) for s in found[:5]]}  # fmt: skip


def child_setup(n: int, data_dir: str) -> dict[str, Any]:
    """Store n planted rows as a dataset version and evaluate them; returns the evaluation id."""
    import pandas as pd

    import loopml

    os.environ["LOOPML_DIR"] = data_dir
    cols, truth, pred = planted_data(n)
    frame = pd.DataFrame({"id": np.arange(n).astype(str), "label": truth, **cols, "split": "test"})
    v = loopml.datasets.create(f"planted-{n}", frame, metadata=list(cols))
    ev = loopml.evaluate(pd.DataFrame({"id": frame["id"], "prediction": pred}), v, classes=[0, 1])
    return {"evaluation": ev.id}


def child_discover(data_dir: str, evaluation: str) -> dict[str, Any]:
    """Slice discovery alone, in a fresh process (its peak memory is the discovery's)."""
    import loopml

    os.environ["LOOPML_DIR"] = data_dir
    ev = loopml.analysis.get_evaluation(evaluation)
    base = _peak_mb()
    with Clock() as c:
        found = ev.discover_slices(k=5)
    slices = [set(s.split(" and ")) for s in found["slice"]]
    hits, sub_above = score_top(slices)
    return {"wall": c.wall, "cpu": c.cpu, "peak_mb": _peak_mb(), "import_mb": base,
            "hits": hits, "sub_above": sub_above, "found": list(found["slice"])}  # fmt: skip


def child_loopml(n: int, data_dir: str) -> dict[str, Any]:
    """Set up n planted rows in one child process, then time discovery in another."""
    setup = run_child(["setup", str(n), data_dir])
    if "error" in setup:
        return setup
    return run_child(["discover", data_dir, setup["evaluation"]])


def run_child(args: list[str], cap: int | None = None, timeout: float = 900) -> dict[str, Any]:
    """Run this script as a child measurement; its last stdout line is the JSON result."""

    def limit() -> None:
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", *args], capture_output=True, text=True,
            timeout=timeout, preexec_fn=limit, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {out.returncode}: {tail[:200]}"}
    return json.loads(lines[-1])


# -- the three cases ----------------------------------------------------------------------------


def bench_evaluation(n: int, data_dir: Path) -> tuple[list[Row], Any, Any]:
    """Case 1: evaluation + every slice metric, loopml vs pandas."""
    import pandas as pd

    import loopml

    cols, truth, pred = planted_data(n, seed=1)
    frame = pd.DataFrame({"id": np.arange(n).astype(str), "label": truth, **cols, "split": "test"})
    version = loopml.datasets.create(f"eval-{n}", frame, metadata=list(cols))
    p1 = np.where(pred == 1, 0.8, 0.2)
    probs = np.stack([1 - p1, p1], axis=1)
    preds = pd.DataFrame({"id": frame["id"], "prediction": pred, "probabilities": list(probs)})
    with Clock() as ours:
        ev = loopml.evaluate(preds, version, classes=[0, 1])
        slices = ev.slices()
    # pandas: the same numbers without intervals or storage
    with Clock() as theirs:
        items = pd.read_parquet(version.path)
        joined = items.merge(preds, on="id", validate="one_to_one")
        correct = joined["label"].to_numpy() == joined["prediction"].to_numpy()
        y = joined["label"].to_numpy()
        p = np.stack(joined["probabilities"].to_numpy())
        _acc = correct.mean()
        recalls = [correct[y == c].mean() for c in (0, 1)]
        _bal = float(np.mean(recalls))
        from sklearn.metrics import f1_score, log_loss

        _f1 = f1_score(y, joined["prediction"], average="macro")
        _ll = log_loss(y, p, labels=[0, 1])
        joined["correct"] = correct
        per_slice = [joined.groupby(c)["correct"].agg(["size", "mean"]) for c in cols]
    n_slices = sum(len(t) for t in per_slice)
    rows = [
        Row(
            f"evaluate + {len(slices)} slice metrics, {n:,} rows x {N_COLS} columns",
            str(ours),
            f"{theirs} ({n_slices} slices)",
            f"{theirs.wall / ours.wall:.2f}x",
            "< 3 s",
            ours.wall < 3,
            [
                "loopml: validates ids, stores the rows as Parquet, bootstraps every metric "
                "(7 metrics) and every slice; pandas: point values only, nothing stored"
            ],
        )
    ]
    # a second evaluation for the comparison case
    flip = np.random.default_rng(2).random(n) < 0.05
    pred_b = np.where(flip, 1 - pred, pred)
    ev_b = loopml.evaluate(
        pd.DataFrame({"id": frame["id"], "prediction": pred_b}), version, classes=[0, 1]
    )
    return rows, ev, ev_b


def bench_ceiling_compare(ev: Any, ev_b: Any) -> list[Row]:
    """Case 3: ceiling table by tags and by slices, and comparison, each vs pandas."""
    import pandas as pd

    n = ev.record.n_rows
    for i, (preds, _) in enumerate(PLANTED):
        where = " and ".join(f"{c} = {v}" for c, v in preds.items())
        ev.tag(f"planted-{i}", where=where, errors_only=True)
    ev.tag("first-10k", ev.rows(columns=["id"], limit=10_000)["id"].tolist())
    slices = [" and ".join(f"{c} = {v}" for c, v in p.items()) for p, _ in PLANTED]
    with Clock() as by_tags:
        t1 = ev.ceiling(by="tags")
    with Clock() as by_slices:
        ev.ceiling(by="slices", slices=slices)
    with Clock() as by_tags_ll:
        ev.ceiling(by="tags", metric="log_loss")
    with Clock() as cmp_clock:
        cmp = ev.compare(ev_b)
    rows_a = ev.rows(columns=["id", "correct", *(f"c{i}" for i in range(N_COLS))])
    with Clock() as pd_ceiling:
        errors_total = (~rows_a["correct"]).sum()
        tags = {}
        for i, (preds, _) in enumerate(PLANTED):
            m = ~rows_a["correct"]
            for c, v in preds.items():
                m &= rows_a[c] == v
            tags[f"planted-{i}"] = m
        _table = pd.DataFrame(
            {k: {"errors": m.sum(), "share": m.sum() / errors_total, "gain": m.sum() / n}
             for k, m in tags.items()}
        ).T.sort_values("gain")  # fmt: skip
    rows_b = ev_b.rows(columns=["id", "correct"])
    with Clock() as pd_cmp:
        j = rows_a.merge(rows_b, on="id", suffixes=("_a", "_b"))
        j["fixed"] = ~j["correct_a"] & j["correct_b"]
        j["broken"] = j["correct_a"] & ~j["correct_b"]
        _per = [j.groupby(f"c{i}")[["fixed", "broken"]].sum() for i in range(N_COLS)]
    return [
        Row(f"ceiling table by {len(t1)} tags, {n:,} rows", str(by_tags), f"{pd_ceiling} (3 tags)",
            f"{pd_ceiling.wall / by_tags.wall:.2f}x", "< 2 s", by_tags.wall < 2,
            ["loopml: gain of accuracy with a 200-draw bootstrap interval per tag"]),
        Row(f"ceiling table by 3 slices, {n:,} rows", str(by_slices), "-", "-", "< 2 s",
            by_slices.wall < 2),
        Row(f"ceiling table by {len(t1)} tags in log loss, {n:,} rows", str(by_tags_ll), "-", "-",
            "< 2 s", by_tags_ll.wall < 2,
            ["row-level: each tag's errors fixed (true class at the prediction's confidence), "
             "log loss recomputed, paired m-out-of-n bootstrap"]),
        Row(f"comparison of two {n:,}-row evaluations", str(cmp_clock), str(pd_cmp),
            f"{pd_cmp.wall / cmp_clock.wall:.2f}x", "< 2 s", cmp_clock.wall < 2,
            [f"fixed {cmp.fixed:,}, broken {cmp.broken:,}; {len(cmp.slices)} slices with "
             "McNemar + bootstrap, Holm-corrected regressions; pandas: counts only"]),
    ]  # fmt: skip


def bench_discovery(sliceline_rows: int, sizes: list[int], data_dir: Path) -> list[Row]:
    """Case 2: slice discovery, sliceline vs loopml, then loopml alone at scale."""
    rows = []
    anchor = run_child(["sliceline", str(sliceline_rows)], cap=SLICELINE_CAP)
    ours = child_loopml(sliceline_rows, str(data_dir / f"d{sliceline_rows}"))

    def desc(r: dict[str, Any]) -> str:
        if "error" in r:
            return r["error"]
        return f"{r['wall']:.2f} s (cpu {r['cpu']:.2f} s), {r['peak_mb']:,.0f} MB, {r['hits']}/3"

    rows.append(
        Row(
            f"slice discovery, {sliceline_rows:,} rows: time, peak memory, planted in top 5",
            desc(ours),
            desc(anchor),
            f"{anchor['wall'] / ours['wall']:.1f}x" if "wall" in anchor and "wall" in ours else "-",
            "3/3",
            ours.get("hits") == 3 and not ours.get("sub_above"),
            [
                f"sliceline 0.3 under an {SLICELINE_CAP / 1e9:.0f} GB cap; issue's figure at "
                "10,000 rows (88 s, 17 GB, 2/3 found) NOT rerun: this 24 GB machine is shared",
                f"loopml top 5: {ours.get('found')}",
                f"sliceline top 5: {anchor.get('found')}",
            ],
        )
    )
    for n in sizes:
        r = child_loopml(n, str(data_dir / f"d{n}"))
        ok = "hits" in r and r["hits"] == 3 and not r["sub_above"] and r["peak_mb"] < 1024
        if n >= 1_000_000:
            ok = ok and r["wall"] < 10
        rows.append(
            Row(
                f"slice discovery alone, {n:,} rows",
                desc(r),
                "- (sliceline: 76 GiB asked at 100,000 rows, per the issue)",
                "-",
                "3/3, < 10 s, < 1 GB" if n >= 1_000_000 else "3/3",
                ok,
                [
                    f"top 5: {r.get('found')}",
                    f"sub-slice above a planted one: {r.get('sub_above')}; peak of a process "
                    f"that only opens the store and discovers ({r.get('import_mb', 0):,.0f} MB "
                    "after imports)",
                ],
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["evaluation", "discovery", "ceiling"], default=None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for cases 1 and 3")
    parser.add_argument("--sliceline-rows", type=int, default=3_000)
    parser.add_argument("--sizes", default="100000,1000000", help="rows for loopml alone (case 2)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "sliceline":
            result = child_sliceline(int(rest[0]))
        elif kind == "setup":
            result = child_setup(int(rest[0]), rest[1])
        else:
            result = child_discover(rest[0], rest[1])
        print(json.dumps(result))
        return
    from importlib.metadata import version

    import duckdb
    import sliceline  # noqa: F401  (the anchor must be installed: pip install -e '.[bench]')

    print_machine(extra={"duckdb": duckdb.__version__, "sliceline": version("sliceline")})
    rows: list[Row] = []
    with temp_dir("bench-analysis-") as tmp:
        os.environ["LOOPML_DIR"] = str(tmp / "main")
        if args.only in (None, "evaluation", "ceiling"):
            eval_rows, ev, ev_b = bench_evaluation(args.rows, tmp)
            if args.only != "ceiling":
                rows += eval_rows
            if args.only in (None, "ceiling"):
                rows += bench_ceiling_compare(ev, ev_b)
        if args.only in (None, "discovery"):
            sizes = [int(s) for s in args.sizes.split(",") if s]
            rows += bench_discovery(args.sliceline_rows, sizes, tmp)
    print_table(rows, "error analysis: loopml vs pandas / sliceline", theirs="pandas / sliceline")


if __name__ == "__main__":
    main()
