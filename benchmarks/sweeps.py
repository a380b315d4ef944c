"""Sweeps benchmark (issue 3): loopml side by side with Optuna and Ray Tune, in one run.

    .venv/bin/python benchmarks/sweeps.py              # everything (several minutes)
    .venv/bin/python benchmarks/sweeps.py --quick      # small budgets (numbers not comparable)
    .venv/bin/python benchmarks/sweeps.py --skip-ray   # without Ray Tune

Every measurement runs in a fresh child process with a fresh temporary folder (``LOOPML_DIR``,
Optuna's storage files, Ray Tune's storage path). Ray Tune runs inside its own network namespace
(``unshare -n``, loopback only) so that nothing it opens reaches past this machine; if that is
not permitted here its cases are skipped. The machine is shared: expect tens of percent noise.

Cases (targets from issue 3):
  1. per-trial overhead: 2,000 trivial trials, random sampling, every trial persisted
     (>= 1,000 trials/s; first trial running within 1 s of the call)
  2. 48 HistGradientBoosting trials on digits, 3-fold CV, 1 thread per trial, 2 workers:
     wall time vs a plain sequential loop (efficiency >= 0.95, faster than Optuna and Ray Tune,
     same best score)
  3. 64 SGDClassifier trials x 20 epochs with ASHA vs no pruning (<= 260 epochs, best accuracy
     within 0.5 point, wall below Optuna's)
  1c. a fresh process's first sweep of 1,000 trivial trials (fresh `python -c` processes, loopml's
     call vs Optuna's in-memory ``study.optimize``; >= 0.25x Optuna's loop rate, issue 9)
Cases 2 and 3 open each tool's storage before the timer (loopml's store, Optuna's study) and
time the rest, data loading included. Slow anchor paths are capped (Optuna with SQLite storage, Ray Tune's defaults) and their rates
extrapolated from the capped run; the notes say so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, fmt_rate, fmt_ratio, fmt_seconds, print_machine, print_table

QUICK = os.environ.get("LOOPML_BENCH_QUICK") == "1" or "--quick" in sys.argv
N_OVERHEAD = 300 if QUICK else 2000
N_FIRST = 1000
FIRST_PAIRS = 3 if QUICK else 5
N_HGB = 8 if QUICK else 48
N_SGD = 16 if QUICK else 64
EPOCHS = 20


# -- workloads ------------------------------------------------------------------------------------
def _trivial(params: dict[str, Any], run: Any) -> float:
    return float(params["x"])


def hgb_configs(n: int) -> list[dict[str, Any]]:
    """The same ``n`` HistGradientBoosting configurations for every tool (seeded)."""
    import random

    rng = random.Random(0)
    return [
        {
            "learning_rate": 10 ** rng.uniform(-2, -0.5),
            "max_leaf_nodes": rng.randint(8, 48),
            "l2_regularization": rng.uniform(0, 1),
        }
        for _ in range(n)
    ]


_DATA: dict[str, Any] = {}


def _digits() -> Any:
    if "digits" not in _DATA:
        from sklearn.datasets import load_digits

        _DATA["digits"] = load_digits(return_X_y=True)
    return _DATA["digits"]


def hgb_score(i: int) -> float:
    """3-fold CV accuracy of configuration ``i`` (1 thread)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score
    from threadpoolctl import threadpool_limits

    X, y = _digits()
    with threadpool_limits(1):
        model = HistGradientBoostingClassifier(
            max_iter=40, early_stopping=False, random_state=0, **hgb_configs(N_HGB)[i]
        )
        return float(cross_val_score(model, X, y, cv=3).mean())


def hgb_setup() -> Any:
    """What an HGB trial needs loaded: scikit-learn's modules and the data (timed by every tool)."""
    import sklearn.ensemble
    import sklearn.model_selection  # noqa: F401

    return _digits()


def sgd_setup() -> Any:
    """What an SGD trial needs loaded: scikit-learn's modules and the split data."""
    import sklearn.linear_model  # noqa: F401

    return _sgd_split()


def _sgd_split() -> Any:
    if "sgd" not in _DATA:
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        X, y = _digits()
        X = StandardScaler().fit_transform(X)
        _DATA["sgd"] = train_test_split(X, y, test_size=0.3, random_state=0)
    return _DATA["sgd"]


def sgd_epochs(alpha: float, eta0: float, report: Any) -> float:
    """Train epoch by epoch; ``report(acc, epoch)`` returns True to stop. Returns the last accuracy."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier

    X_train, X_val, y_train, y_val = _sgd_split()
    model = SGDClassifier(
        loss="log_loss", alpha=alpha, learning_rate="constant", eta0=eta0, random_state=0
    )
    classes = np.unique(y_train)
    acc = 0.0
    for epoch in range(EPOCHS):
        model.partial_fit(X_train, y_train, classes=classes)
        acc = float(model.score(X_val, y_val))
        if report(acc, epoch):
            break
    return acc


# -- cases (each runs in its own child process) ---------------------------------------------------
def case_loopml_overhead() -> dict[str, Any]:
    import loopml
    from loopml.tracking import default_session

    start_file = Path(tempfile.mkdtemp()) / "first"

    def first(params: dict[str, Any], run: Any) -> float:
        start_file.write_text(repr(time.time()))
        return 0.0

    t0 = time.time()
    loopml.sweep(
        first, {"x": loopml.uniform(0, 1)}, n_trials=1, parallel=2, progress=False, project="first"
    )
    first_latency = float(start_file.read_text()) - t0
    t0 = time.perf_counter()
    sweep = loopml.sweep(
        _trivial, {"x": loopml.uniform(0, 1)}, n_trials=N_OVERHEAD, parallel=2, sampler="random", seed=0,
        cache=False, progress=False, project="overhead",
    )  # fmt: skip
    wall = time.perf_counter() - t0
    stored = default_session().store.runs.count("overhead", f"sweep_id = '{sweep.id}'")
    return {
        "rate": N_OVERHEAD / wall,
        "wall": wall,
        "stored": stored,
        "first_latency": first_latency,
    }


def _optuna_rate(storage: Any, n: int) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n)
    wall = time.perf_counter() - t0
    return {"rate": n / wall, "wall": wall, "n": n}


def case_optuna_memory() -> dict[str, Any]:
    return _optuna_rate(None, N_OVERHEAD)


def case_optuna_sqlite() -> dict[str, Any]:
    return _optuna_rate(f"sqlite:///{tempfile.mkdtemp()}/optuna.db", min(N_OVERHEAD, 200))


def case_optuna_journal() -> dict[str, Any]:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(f"{tempfile.mkdtemp()}/journal.log"))
    return _optuna_rate(storage, min(N_OVERHEAD, 500))


def _ray_tune(
    trainable: Any,
    space: dict[str, Any],
    n: int,
    reuse: bool,
    scheduler: Any = None,
    metric: str = "x",
) -> Any:
    import ray
    from ray import tune

    # address="local": a new single-node Ray in this namespace, never a cluster found on disk.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space=space,
        tune_config=tune.TuneConfig(
            num_samples=n, reuse_actors=reuse, scheduler=scheduler, metric=metric, mode="max"
        ),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(), verbose=0),
    )
    return tuner.fit()


def _tune_trivial(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({"x": config["x"]})


def _raytune_overhead(n: int, reuse: bool) -> dict[str, Any]:
    from ray import tune

    t0 = time.perf_counter()
    _ray_tune(_tune_trivial, {"x": tune.uniform(0, 1)}, n, reuse=reuse)
    wall = time.perf_counter() - t0
    return {"rate": n / wall, "wall": wall, "n": n}


def case_raytune_overhead_default() -> dict[str, Any]:
    return _raytune_overhead(6 if QUICK else 12, reuse=False)


def case_raytune_overhead_reuse() -> dict[str, Any]:
    return _raytune_overhead(20 if QUICK else 100, reuse=True)


def case_hgb_sequential() -> dict[str, Any]:
    t0 = time.perf_counter()
    hgb_setup()
    scores = [hgb_score(i) for i in range(N_HGB)]
    return {"wall": time.perf_counter() - t0, "best": max(scores)}


def _hgb_objective(params: dict[str, Any], run: Any) -> float:
    return hgb_score(params["i"])


def _open_store() -> None:
    # Like Optuna's create_study (outside its timer), the store is opened and Optuna imported
    # before the timer starts; loading the data and libraries (setup) is timed for every tool.
    import optuna  # noqa: F401

    from loopml.tracking import default_session

    default_session()


def case_hgb_loopml() -> dict[str, Any]:
    import loopml

    _open_store()
    t0 = time.perf_counter()
    sweep = loopml.sweep(
        _hgb_objective, {"i": loopml.intrange(0, N_HGB - 1)}, n_trials=N_HGB, parallel=2, sampler="grid",
        setup=hgb_setup, cache=False, progress=False, project="hgb",
    )  # fmt: skip
    return {"wall": time.perf_counter() - t0, "best": sweep.best_value}


def case_hgb_optuna() -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.GridSampler({"i": list(range(N_HGB))})
    )
    t0 = time.perf_counter()
    hgb_setup()
    study.optimize(
        lambda t: hgb_score(t.suggest_categorical("i", list(range(N_HGB)))),
        n_trials=N_HGB,
        n_jobs=2,
    )
    return {"wall": time.perf_counter() - t0, "best": study.best_value}


def _tune_hgb(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({"acc": hgb_score(config["i"])})


def case_hgb_raytune() -> dict[str, Any]:
    from ray import tune

    t0 = time.perf_counter()
    results = _ray_tune(
        _tune_hgb, {"i": tune.grid_search(list(range(N_HGB)))}, 1, reuse=True, metric="acc"
    )
    wall = time.perf_counter() - t0
    return {"wall": wall, "best": float(results.get_best_result().metrics["acc"])}


def _sgd_space() -> Any:
    import loopml

    return {"alpha": loopml.loguniform(1e-6, 1e-1), "eta0": loopml.loguniform(1e-4, 1.0)}


def _sgd_objective(params: dict[str, Any], run: Any) -> float:
    def report(acc: float, epoch: int) -> bool:
        run.report(acc, epoch)
        return run.should_stop()

    return sgd_epochs(params["alpha"], params["eta0"], report)


def _case_sgd_loopml(pruner: str | None) -> dict[str, Any]:
    import loopml

    _open_store()
    t0 = time.perf_counter()
    sweep = loopml.sweep(
        _sgd_objective, _sgd_space(), metric="acc", n_trials=N_SGD, parallel=2, sampler="random", seed=0,
        pruner=pruner, setup=sgd_setup, cache=False, progress=False, project="sgd",
    )  # fmt: skip
    wall = time.perf_counter() - t0
    epochs = sum(len(t.intermediate) for t in sweep.trial_rows())
    return {"wall": wall, "best": sweep.best_value, "epochs": epochs}


def case_sgd_loopml_none() -> dict[str, Any]:
    return _case_sgd_loopml(None)


def case_sgd_loopml_asha() -> dict[str, Any]:
    return _case_sgd_loopml("asha")


def case_sgd_optuna() -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.SuccessiveHalvingPruner(),
    )

    def objective(trial: Any) -> float:
        alpha = trial.suggest_float("alpha", 1e-6, 1e-1, log=True)
        eta0 = trial.suggest_float("eta0", 1e-4, 1.0, log=True)

        def report(acc: float, epoch: int) -> bool:
            trial.report(acc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
            return False

        return sgd_epochs(alpha, eta0, report)

    t0 = time.perf_counter()
    sgd_setup()
    study.optimize(objective, n_trials=N_SGD, n_jobs=2)
    wall = time.perf_counter() - t0
    epochs = sum(len(t.intermediate_values) for t in study.trials)
    best = max(t.value for t in study.trials if t.value is not None)
    return {"wall": wall, "best": best, "epochs": epochs}


def _tune_sgd(config: dict[str, Any]) -> None:
    from ray import tune

    def report(acc: float, epoch: int) -> bool:
        tune.report({"acc": acc, "epoch": epoch + 1})
        return False

    sgd_epochs(config["alpha"], config["eta0"], report)


def case_sgd_raytune() -> dict[str, Any]:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    t0 = time.perf_counter()
    space = {"alpha": tune.loguniform(1e-6, 1e-1), "eta0": tune.loguniform(1e-4, 1.0)}
    scheduler = ASHAScheduler(max_t=EPOCHS, grace_period=1, reduction_factor=3)
    results = _ray_tune(_tune_sgd, space, N_SGD, reuse=True, scheduler=scheduler, metric="acc")
    wall = time.perf_counter() - t0
    frame = results.get_dataframe()
    epochs = int(frame["training_iteration"].sum())
    best = max(
        float(r.metrics_dataframe["acc"].max()) for r in results if r.metrics_dataframe is not None
    )
    return {"wall": wall, "best": best, "epochs": epochs}


_FIRST_LOOPML = """
import json, os, resource, time
def cpu_all():
    # This process, its reaped children (the workers) and its live ones (the store process).
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    for pid in open("/proc/self/task/%d/children" % os.getpid()).read().split():
        fields = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total
t0, c0 = time.perf_counter(), time.process_time()
import loopml
def objective(params, run):
    return float(params["x"])
t1, c1, a1 = time.perf_counter(), time.process_time(), cpu_all()
sweep = loopml.sweep(
    objective, {"x": loopml.uniform(0, 1)}, n_trials=__N__, parallel=2, sampler="random", seed=0,
    cache=False, progress=False, project="first",
)
t2, c2, a2 = time.perf_counter(), time.process_time(), cpu_all()
assert sweep.status == "finished" and len(sweep.trial_rows()) == __N__  # every trial stored
t3 = time.perf_counter()  # the call may return with its trials kept, not yet stored: read waits
print("RESULT " + json.dumps({
    "total": t2 - t0, "call": t2 - t1, "cpu_total": c2 - c0, "cpu_call": c2 - c1,
    "cpu_all_call": a2 - a1, "stored": t3 - t1,
}))
"""

_FIRST_OPTUNA = """
import json, time
t0, c0 = time.perf_counter(), time.process_time()
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
t1, c1 = time.perf_counter(), time.process_time()
study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=__N__)
t2, c2 = time.perf_counter(), time.process_time()
print("RESULT " + json.dumps({
    "total": t2 - t0, "call": t2 - t1, "cpu_total": c2 - c0, "cpu_call": c2 - c1,
}))
"""


def _fresh(code: str, n: int) -> dict[str, float]:
    """Run ``code`` in a fresh ``python -c`` process with its own data folder; its RESULT."""
    with tempfile.TemporaryDirectory(prefix="bench-first-") as d:
        env = {**os.environ, "LOOPML_DIR": str(Path(d) / "loopml"), "HOME": d}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode
        done = subprocess.run(
            [sys.executable, "-c", code.replace("__N__", str(n))],
            env=env, cwd=d, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            out: dict[str, float] = json.loads(line[len("RESULT ") :])
            return out
    raise RuntimeError(f"first-sweep child failed:\n{done.stdout[-1500:]}\n{done.stderr[-2500:]}")


def case_first_sweep() -> dict[str, Any]:
    """Case 1c: a fresh process's first sweep, loopml and Optuna in memory, pairs interleaved."""
    import compileall
    import statistics

    import loopml

    # As installed: loopml's modules compiled once (optuna's already are, from its install).
    compileall.compile_dir(Path(loopml.__file__).parent, quiet=1)
    pairs = [
        (_fresh(_FIRST_LOOPML, N_FIRST), _fresh(_FIRST_OPTUNA, N_FIRST)) for _ in range(FIRST_PAIRS)
    ]
    call = statistics.median(ours["call"] for ours, _ in pairs)
    total = statistics.median(ours["total"] for ours, _ in pairs)
    loop = statistics.median(theirs["call"] for _, theirs in pairs)
    fresh = statistics.median(theirs["total"] for _, theirs in pairs)
    return {
        "rate": N_FIRST / call,
        "rate_process": N_FIRST / total,
        "rate_stored": N_FIRST / statistics.median(ours["stored"] for ours, _ in pairs),
        "optuna_loop_rate": N_FIRST / loop,
        "optuna_process_rate": N_FIRST / fresh,
        # Each pair ran back to back: its ratio cancels most of the shared machine's drift.
        "ratio": statistics.median(theirs["call"] / ours["call"] for ours, theirs in pairs),
        "ratio_process": statistics.median(
            theirs["total"] / ours["total"] for ours, theirs in pairs
        ),
        # CPU seconds of the sweeping process (all its threads; not loopml's workers): what
        # the rates would be on an idle machine, where a shared one's wall times wander.
        "cpu_ratio": statistics.median(
            theirs["cpu_call"] / ours["cpu_call"] for ours, theirs in pairs
        ),
        "cpu_call": statistics.median(ours["cpu_call"] for ours, _ in pairs),
        # CPU of every process the call used (the workers and the store process too).
        "cpu_all_call": statistics.median(ours["cpu_all_call"] for ours, _ in pairs),
        "cpu_all_ratio": statistics.median(
            theirs["cpu_call"] / ours["cpu_all_call"] for ours, theirs in pairs
        ),
        "optuna_cpu_loop": statistics.median(theirs["cpu_call"] for _, theirs in pairs),
        "pairs": FIRST_PAIRS,
    }


CASES = {name[len("case_") :]: fn for name, fn in globals().items() if name.startswith("case_")}


# -- driver ---------------------------------------------------------------------------------------
def run_case(name: str, timeout: float = 900) -> dict[str, Any] | None:
    """Run one case in a fresh child (Ray Tune inside ``unshare -n``); its JSON result or None."""
    with tempfile.TemporaryDirectory(prefix="bench-sweeps-") as d:
        env = {
            **os.environ,
            "LOOPML_DIR": str(Path(d) / "loopml"),
            "RAY_USAGE_STATS_ENABLED": "0",
            "HOME": d,
        }
        env["LOOPML_BENCH_QUICK"] = "1" if QUICK else "0"
        argv = [sys.executable, __file__, "--case", name]
        if name.startswith("raytune") or name.endswith("raytune"):
            argv = ["unshare", "-n", *argv]
        try:
            done = subprocess.run(
                argv, env=env, cwd=d, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            print(f"  {name}: timed out after {timeout:.0f} s", file=sys.stderr)
            return None
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                result: dict[str, Any] = json.loads(line[len("RESULT ") :])
                print(f"  {name}: {result}", file=sys.stderr)
                return result
        print(f"  {name} failed:\n{done.stdout[-1500:]}\n{done.stderr[-2500:]}", file=sys.stderr)
        return None


def _child(name: str) -> None:
    if name.startswith("raytune") or name.endswith("raytune"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    print("RESULT " + json.dumps(CASES[name]()), flush=True)


def _can_unshare() -> bool:
    try:
        return (
            subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


def main() -> None:
    global QUICK
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help="small budgets (numbers not comparable)"
    )
    parser.add_argument("--skip-ray", action="store_true", help="leave Ray Tune out")
    parser.add_argument(
        "--only", help="comma-separated case names (e.g. sgd_loopml_asha,sgd_optuna)"
    )
    args = parser.parse_args()
    if args.case:
        _child(args.case)
        return
    if args.quick:
        QUICK = True
    import optuna
    import ray

    print_machine("machine", {"optuna": optuna.__version__, "ray": ray.__version__})
    ray_ok = not args.skip_ray and _can_unshare()
    if not args.skip_ray and not ray_ok:
        print("Ray Tune skipped: unshare -n is not permitted here", file=sys.stderr)
    only = set(args.only.split(",")) if args.only else set(CASES)
    r = {
        name: (run_case(name) if (ray_ok or "raytune" not in name) and name in only else None)
        for name in CASES
    }

    def rate(key: str) -> float | None:
        return r[key]["rate"] if r.get(key) else None

    ours = r["loopml_overhead"] or {}
    rows = [
        Row(
            f"1. {N_OVERHEAD:,} trivial trials, random sampler, persisted (trials/s)",
            fmt_rate(ours.get("rate")),
            f"Optuna in memory {fmt_rate(rate('optuna_memory'))}\nOptuna SQLite {fmt_rate(rate('optuna_sqlite'))}\n"
            f"Optuna journal {fmt_rate(rate('optuna_journal'))}\nRay Tune {fmt_rate(rate('raytune_overhead_default'))}\n"
            f"Ray Tune reuse_actors {fmt_rate(rate('raytune_overhead_reuse'))}",
            f"vs SQLite {fmt_ratio(ours.get('rate'), rate('optuna_sqlite'))}\nvs journal {fmt_ratio(ours.get('rate'), rate('optuna_journal'))}\n"
            f"vs in-memory {fmt_ratio(ours.get('rate'), rate('optuna_memory'))}\nvs Ray Tune reuse {fmt_ratio(ours.get('rate'), rate('raytune_overhead_reuse'))}",
            ">= 1,000/s",
            ok=ours["rate"] >= 1000 and ours["stored"] == N_OVERHEAD if ours else None,
            notes=[
                f"{ours['stored']} runs stored" if ours else "loopml not run",
                "Optuna SQLite capped at 200 trials, journal at 500, Ray Tune at 12 / 100: rates from the capped runs",
            ],
        ),
        Row(
            "1b. first trial running after the call",
            fmt_seconds(ours.get("first_latency")),
            "-",
            target="< 1 s",
            ok=ours["first_latency"] < 1.0 if ours else None,
            notes=["loopml imported already; the pool is forked on the call"],
        ),
    ]
    first = r.get("first_sweep")
    if first:
        rows.append(
            Row(
                f"1c. first sweep in a fresh process: {N_FIRST:,} trivial trials (trials/s)",
                f"{fmt_rate(first['rate'])}\n{fmt_rate(first['rate_process'])} with import\n"
                f"{fmt_rate(first['rate_stored'])} until read back",
                f"Optuna in memory, loop {fmt_rate(first['optuna_loop_rate'])}\n"
                f"{fmt_rate(first['optuna_process_rate'])} with import",
                f"call vs loop {first['ratio']:.2f}x\nwith imports {first['ratio_process']:.2f}x\n"
                f"CPU, call vs loop {first['cpu_ratio']:.2f}x\n"
                f"CPU, all processes {first['cpu_all_ratio']:.2f}x",
                ">= 0.25x Optuna's loop",
                ok=first["ratio"] >= 0.25,
                notes=[
                    f"median of {first['pairs']} interleaved pairs of fresh `python -c` processes; "
                    "loopml's call returns with every trial kept (stored, or kept in the sweep's "
                    "journal while its store process imports SQLAlchemy and opens the store); "
                    "'until read back' also counts `trial_rows()`, which waits until all are "
                    "stored; Optuna's loop stores nothing; "
                    "'with import' times both from before `import loopml` / `import optuna`",
                    f"CPU of the sweeping process: loopml's call {first['cpu_call']:.2f} s, "
                    f"Optuna's loop {first['optuna_cpu_loop']:.2f} s; loopml's call in all its "
                    f"processes (workers, store process until the call returns) "
                    f"{first['cpu_all_call']:.2f} s",
                ],
            )
        )
    seq, lm, op, rt = (
        r.get(k) for k in ("hgb_sequential", "hgb_loopml", "hgb_optuna", "hgb_raytune")
    )
    if seq and lm:
        eff = seq["wall"] / lm["wall"] / 2
        theirs = (
            f"Optuna {fmt_seconds(op and op['wall'])} (eff {op and seq['wall'] / op['wall'] / 2:.2f})\n"
            if op
            else ""
        )
        theirs += (
            f"Ray Tune {fmt_seconds(rt['wall'])} (eff {seq['wall'] / rt['wall'] / 2:.2f})"
            if rt
            else "Ray Tune -"
        )
        rows.append(
            Row(
                f"2. {N_HGB} HGB trials, 3-fold CV, 2 workers: wall (efficiency)",
                f"{fmt_seconds(lm['wall'])} (eff {eff:.2f})",
                theirs,
                f"vs Optuna {fmt_ratio(lm['wall'], op and op['wall'], False)}\nvs Ray Tune {fmt_ratio(lm['wall'], rt and rt['wall'], False)}",
                "eff >= 0.95, fastest, same best",
                ok=eff >= 0.95
                and (not op or lm["wall"] < op["wall"])
                and (not rt or lm["wall"] < rt["wall"])
                and abs(lm["best"] - seq["best"]) < 1e-9,
                notes=[
                    f"sequential loop {fmt_seconds(seq['wall'])}; best: sequential {seq['best']:.4f}, loopml {lm['best']:.4f}"
                    + (f", Optuna {op['best']:.4f}" if op else "")
                    + (f", Ray Tune {rt['best']:.4f}" if rt else "")
                ],
            )
        )
    none, asha, op3, rt3 = (
        r.get(k) for k in ("sgd_loopml_none", "sgd_loopml_asha", "sgd_optuna", "sgd_raytune")
    )
    if none and asha:
        total = N_SGD * EPOCHS
        theirs = (
            f"Optuna SHA {op3['epochs']} epochs, {fmt_seconds(op3['wall'])}, best {op3['best']:.4f}\n"
            if op3
            else ""
        )
        theirs += (
            f"Ray Tune ASHA {rt3['epochs']} epochs, {fmt_seconds(rt3['wall'])}, best {rt3['best']:.4f}"
            if rt3
            else "Ray Tune -"
        )
        rows.append(
            Row(
                f"3. {N_SGD} SGD trials x {EPOCHS} epochs with ASHA: epochs, wall, best",
                f"{asha['epochs']} of {total} epochs, {fmt_seconds(asha['wall'])}, best {asha['best']:.4f}",
                theirs,
                f"wall vs Optuna {fmt_ratio(asha['wall'], op3 and op3['wall'], False)}",
                "<= 260 epochs, best within 0.5 pt, wall < Optuna",
                ok=asha["epochs"] <= 260
                and none["best"] - asha["best"] <= 0.005
                and (not op3 or asha["wall"] < op3["wall"]),
                notes=[
                    f"no pruning: {none['epochs']} epochs, {fmt_seconds(none['wall'])}, best {none['best']:.4f}"
                ],
            )
        )
    print_table(rows, "sweeps: loopml vs Optuna and Ray Tune", theirs="Optuna / Ray Tune")


if __name__ == "__main__":
    main()
