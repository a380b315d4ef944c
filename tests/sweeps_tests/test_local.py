"""Sweeps on the local process pool, on each store backend: trials are runs, search and pruning work."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.sweeps import worker_data
from tests.sweeps_tests._objectives import epochs, quadratic


def test_sweep_trials_are_runs(session: Any) -> None:
    sweep = loopml.sweep(
        quadratic,
        {"x": loopml.uniform(0, 1), "k": 3},
        n_trials=12,
        parallel=2,
        seed=0,
        project="p",
        progress=False,
    )
    assert sweep.status == "finished"
    trials = sweep.trials
    assert sorted(trials["number"]) == list(range(12))
    assert set(trials["state"]) == {"finished"}
    best = sweep.best_trial
    assert best.value == trials["value"].max() and best.params["k"] == 3
    runs = loopml.runs("p", limit=None)
    runs = runs[runs["sweep_id"] == sweep.id]
    assert len(runs) == 12 and set(runs["status"]) == {"finished"}
    record = loopml.get_run(best.run_id)
    assert record.params["x"] == best.params["x"]
    assert record.metrics["val_acc"].last == best.value
    assert record.metrics["loss"].count == 3
    assert record.name == f"{sweep.name}-{best.number}"


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "qmc"])
def test_samplers(sampler: str) -> None:
    sweep = loopml.sweep(
        quadratic, {"x": loopml.uniform(0, 1)}, n_trials=8, sampler=sampler, seed=1, progress=False
    )
    assert len(sweep.trials) == 8


def test_grid_sampler_caps_the_budget_at_the_grid() -> None:
    sweep = loopml.sweep(
        quadratic,
        {"x": loopml.choice([0.1, 0.3, 0.5])},
        n_trials=50,
        sampler="grid",
        progress=False,
        cache=False,
    )
    assert sorted(sweep.trials["params.x"]) == [0.1, 0.3, 0.5]
    assert sweep.best_params == {"x": 0.3}


def test_define_by_run_space() -> None:
    def space(trial: Any) -> dict[str, Any]:
        model = trial.suggest_categorical("model", ["a", "b"])
        if model == "a":
            trial.suggest_float("x", 0.0, 1.0)
            return {}
        return {"x": 0.3}  # a fixed value for model b

    sweep = loopml.sweep(quadratic, space, n_trials=10, seed=3, progress=False)
    trials = sweep.trials
    assert set(trials["state"]) == {"finished"}
    assert (trials[trials["params.model"] == "b"]["params.x"] == 0.3).all()


@pytest.mark.parametrize("pruner", ["median", "asha", "hyperband"])
def test_pruners_stop_bad_trials(pruner: str) -> None:
    # One worker: its reports and results reach the pruner in one order. With two, which trials
    # have ended when a trial reports depends on which worker is quicker: a trial could be
    # pruned only at its last epoch, or (Hyperband) none at all.
    sweep = loopml.sweep(
        epochs,
        {"q": loopml.uniform(0, 1)},
        metric="acc",
        n_trials=16,
        parallel=1,
        pruner=pruner,
        seed=2,
        progress=False,
    )
    trials = sweep.trials
    assert "pruned" in set(trials["state"])
    assert trials["state"].isin(["finished", "pruned"]).all()
    pruned = trials[trials["state"] == "pruned"].iloc[0]
    series = loopml.get_run(pruned["run_id"]).metrics["acc"]
    assert series.count < 12  # it stopped early, and its reports were logged


def test_a_seeded_sweep_prunes_the_same_trials_every_time() -> None:
    def states() -> list[str]:
        sweep = loopml.sweep(
            epochs,
            {"q": loopml.uniform(0, 1)},
            metric="acc",
            n_trials=16,
            parallel=1,
            sampler="random",  # params in the order asked, whenever trials end
            pruner="hyperband",  # its brackets come from the study's name and trial numbers
            seed=4,
            cache=False,  # run again, not reused
            progress=False,
        )
        return list(sweep.trials.sort_values("number")["state"])

    first = states()
    assert "pruned" in first
    assert states() == first


def test_identical_trials_reuse_the_stored_result() -> None:
    space = {"x": loopml.choice([0.1, 0.3])}
    first = loopml.sweep(quadratic, space, n_trials=2, sampler="grid", progress=False)
    assert first.trials["cached_from"].isna().all()  # both configurations ran
    again = loopml.sweep(quadratic, space, n_trials=3, sampler="random", seed=5, progress=False)
    assert again.trials["cached_from"].notna().all()
    cached = again.trials.iloc[0]
    record = loopml.get_run(cached["run_id"])
    assert (
        record.status == "finished" and record.tags["loopml.cached_from"] == cached["cached_from"]
    )
    fresh = loopml.sweep(
        quadratic, space, n_trials=3, sampler="random", seed=5, progress=False, cache=False
    )
    assert fresh.trials["cached_from"].isna().all()


def test_setup_runs_once_and_every_worker_sees_it(tmp_path: Path) -> None:
    calls = tmp_path / "setup-calls"

    def setup() -> dict[str, str]:
        with calls.open("a") as f:
            f.write("x")
        return {"token": "loaded"}

    def objective(params: dict[str, Any], run: Any) -> float:
        assert worker_data() == {"token": "loaded"}
        return float(os.getpid())

    sweep = loopml.sweep(
        objective, {"x": loopml.uniform(0, 1)}, n_trials=10, parallel=2, setup=setup, progress=False
    )
    assert calls.read_text() == "x"  # loaded once, before the workers forked
    assert sweep.trials["value"].nunique() <= 2  # every trial ran in one of the two warm workers
    assert set(sweep.trials["state"]) == {"finished"}


def test_importances_and_load() -> None:
    space = {"x": loopml.uniform(0, 1), "y": loopml.uniform(0, 1)}
    sweep = loopml.sweep(quadratic, space, n_trials=12, sampler="random", seed=0, progress=False)
    importances = loopml.load_sweep(sweep.id[:6]).importances()
    assert set(importances) == {"x", "y"} and importances["x"] > importances["y"]


def test_progress_bar_and_resume_with_a_lambda(capsys: pytest.CaptureFixture[str]) -> None:
    sweep = loopml.sweep(
        lambda params, run: params["x"], {"x": loopml.uniform(0, 1)}, n_trials=3, progress=True
    )
    out = capsys.readouterr().out
    assert "3/3" in out and "3 done" in out and "best" in out
    with pytest.raises(loopml.ValidationError, match="lambda or nested function"):
        loopml.resume_sweep(sweep.id, n_trials=5)
    resumed = loopml.resume_sweep(sweep.id, objective=lambda params, run: params["x"], n_trials=5)
    assert sorted(resumed.trials["number"]) == list(range(5))


def test_workers_limit_blas_threads_to_their_share_of_cores() -> None:
    import numpy  # noqa: F401 - loaded before the fork, as in most sessions

    def objective(params: dict[str, Any], run: Any) -> float:
        from threadpoolctl import threadpool_info

        run.set_tags({"omp": os.environ["OMP_NUM_THREADS"]})
        return float(max(p["num_threads"] for p in threadpool_info()))

    sweep = loopml.sweep(
        objective, {"x": loopml.uniform(0, 1)}, n_trials=2, parallel=2, progress=False
    )
    share = max(1, (os.cpu_count() or 1) // 2)
    assert set(sweep.trials["value"]) == {float(share)}
    assert loopml.get_run(sweep.trials["run_id"][0]).tags["omp"] == str(share)


def _spec(number: int) -> Any:
    from loopml.sweeps._trial import TrialSpec

    return TrialSpec(number, f"r{number}", f"t-{number}", "p", {"x": 0.5})


def test_slow_trials_are_not_queued_behind_a_running_one() -> None:
    """A queued slow trial could leave the other worker idle at the end: each holds only one."""
    from loopml.sweeps._local import LocalExecutor

    executor = LocalExecutor(parallel=2)
    executor.start(quadratic, "val_acc", None)
    try:
        assert executor.wanted() == 2  # nothing measured yet: one trial per worker
        for _ in range(3):
            executor.sizer.learn(1.5)
        assert executor.chunk == 1 and executor.wanted() == 2
        executor.submit([_spec(0), _spec(1)])
        assert executor.wanted() == 0
        assert [len(w.queue) for w in executor.workers] == [1, 1]
    finally:
        executor.shutdown(kill=True)


def test_short_trials_go_out_in_chunks_with_one_queued_ahead() -> None:
    from loopml.sweeps._local import LocalExecutor

    executor = LocalExecutor(parallel=2)
    executor.start(quadratic, "val_acc", None)
    try:
        for _ in range(3):
            executor.sizer.learn(0.001)
        assert executor.chunk == 20
        assert executor.wanted() == 2 * 2 * 20  # a chunk running and a chunk ahead, per worker
        executor.submit([_spec(i) for i in range(80)])
        assert [len(w.queue) for w in executor.workers] == [40, 40]
    finally:
        executor.shutdown(kill=True)
