"""``loopml.sweep``: run a search, and ``resume_sweep`` / ``load_sweep`` for stored ones."""

from __future__ import annotations

import contextlib
import math
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopml._config import Settings
from loopml._errors import ValidationError
from loopml._values import check_key, check_project, check_run_name
from loopml.store import SweepRecord
from loopml.sweeps._controller import Controller, Search
from loopml.sweeps._executor import Executor
from loopml.sweeps._objective import CommandObjective, objective_identity, objective_key
from loopml.sweeps._optuna import OptunaSearch, build_study, make_pruner, make_sampler
from loopml.sweeps._random import RandomSearch, uses_stdlib_random
from loopml.sweeps._sigint import ctrl_c_twice
from loopml.sweeps._space import SpaceFn, SpaceSpec, load_ref
from loopml.sweeps._sweep import Sweep
from loopml.sweeps._writer import NewSweep, ProcessWriter, TrialWriter

if TYPE_CHECKING:
    from loopml.store import SweepStore, TrialRow

__all__ = ["load_sweep", "resume_sweep", "sweep"]

Objective = Callable[..., Any]


def sweep(
    objective: Objective | str,
    space: Mapping[str, Any] | SpaceFn,
    metric: str = "val_acc",
    direction: str = "max",
    n_trials: int = 64,
    parallel: int = 2,
    sampler: Any = "tpe",
    pruner: Any = None,
    executor: str = "local",
    timeout_per_trial: float | None = None,
    retries: int = 1,
    seed: int | None = None,
    project: str = "default",
    name: str | None = None,
    *,
    setup: Callable[[], Any] | None = None,
    cache: bool = True,
    inputs: Mapping[str, Any] | Sequence[str] | None = None,
    progress: bool | None = None,
    ray_address: str | None = None,
    workdir: str | None = None,
) -> Sweep:
    """Search ``space`` for the params that make ``objective`` best; every trial is a run.

    ``objective(params, run)`` returns a number, or a dict holding ``metric`` (or logs ``metric``
    with ``run.log``); it may call ``run.report(value, step)`` and stop when
    ``run.should_stop()``. ``objective`` may also be ``"module:function"`` or a
    :class:`CommandObjective`. Trials run on ``parallel`` warm worker processes (``executor=
    "local"``) or on a Ray cluster (``executor="ray"``, ``ray_address=...``). A trial identical
    to a finished one (same objective code, params and ``inputs``) reuses its stored result
    unless ``cache=False``. ``setup()`` loads what every trial needs (imports, data) once:
    locally it runs in this process before the workers fork, which inherit it; on Ray once per
    Ray worker process. Trials read its value with ``loopml.sweeps.worker_data()``. ``workdir``
    is where a command runs and where ``module:function`` objectives are imported from.

    ``sampler="random"`` with no pruner and a dict space draws params with Python's ``random``
    (seeded by ``seed``) instead of Optuna's sampler: the same seed gives the same params in
    loopml, not the ones Optuna's ``RandomSampler`` would draw.
    """
    _use_workdir(workdir)
    if isinstance(objective, str):
        objective = load_ref(objective)
    if not callable(objective):
        raise ValidationError(
            f"objective must be a function objective(params, run), not {type(objective).__name__}"
        )
    spec = SpaceSpec(space)
    metric, direction = _check_metric(metric, direction)
    n_trials = _positive_int("n_trials", n_trials)
    parallel = _positive_int("parallel", parallel)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValidationError(f"retries must be a non-negative integer, not {retries!r}")
    if timeout_per_trial is not None and (
        isinstance(timeout_per_trial, bool)
        or not isinstance(timeout_per_trial, (int, float))
        or not (timeout_per_trial > 0 and math.isfinite(timeout_per_trial))
    ):
        raise ValidationError(
            f"timeout_per_trial must be a positive number of seconds or None, not {timeout_per_trial!r}"
        )
    if executor not in ("local", "ray"):
        raise ValidationError(
            f"executor {executor!r} is unknown; use 'local' (a process pool) or 'ray'"
        )
    check_project(project)
    if name is not None:
        check_run_name(name)
    if sampler == "grid":
        n_trials = min(n_trials, math.prod(len(v) for v in spec.grid().values()))
    if not uses_stdlib_random(sampler, pruner, spec):
        make_sampler(sampler, spec, seed)  # validate names before anything is stored
        make_pruner(pruner)
    okey = objective_key(objective, inputs)
    sweep_id = uuid.uuid4().hex[:16]
    name = name or f"sweep-{sweep_id[:6]}"
    config = {
        "space": spec.to_json(),
        "sampler": sampler if isinstance(sampler, str) else type(sampler).__name__,
        "pruner": pruner if pruner is None or isinstance(pruner, str) else type(pruner).__name__,
        "n_trials": n_trials,
        "parallel": parallel,
        "executor": executor,
        "timeout_per_trial": timeout_per_trial,
        "retries": retries,
        "seed": seed,
        "cache": cache,
        "objective_key": okey,
        "ray_address": ray_address,
        "workdir": workdir,
    }
    new = NewSweep(
        sweep_id, project, name, metric, direction, objective_identity(objective), config
    )
    if _use_store_process(executor, objective):
        # A fresh process: its trials start now, while a forked store process opens the store.
        from loopml.tracking import run_attributes

        settings = Settings.from_env()
        writer = ProcessWriter(settings, new, _sweep_store, run_attributes)
        record = SweepRecord(
            sweep_id, project, name, "running", metric, direction, new.objective, config,
            time.time(), None,
        )  # fmt: skip
        cached = writer.cached if cache else dict
        return _execute(
            writer, None, record, [], cached, settings.heartbeat_interval,
            objective, spec, sampler, pruner, setup, progress,
        )  # fmt: skip
    sweeps = _sweep_store()
    sweeps.create_sweep(
        sweep_id, project, name, metric, direction, objective_identity(objective), config
    )
    return _execute_here(
        sweeps, sweeps.get(sweep_id), objective, spec, sampler, pruner, setup, progress
    )


def resume_sweep(
    sweep_id: str,
    objective: Objective | None = None,
    *,
    n_trials: int | None = None,
    parallel: int | None = None,
    setup: Callable[[], Any] | None = None,
    progress: bool | None = None,
) -> Sweep:
    """Continue a stopped or crashed sweep: rebuild the sampler from its stored trials and run the rest.

    Trials that were running when the sweep stopped run again under the same number and run.
    ``objective`` is needed only when the sweep's objective cannot be imported again (a lambda
    or a nested function). ``n_trials`` raises the budget.
    """
    sweeps = _sweep_store()
    record = sweeps.get(sweep_id)
    _use_workdir(record.config.get("workdir"))
    if objective is None:
        objective = _stored_objective(record)
    elif isinstance(objective, str):
        objective = load_ref(objective)
    config = dict(record.config)
    if n_trials is not None:
        config["n_trials"] = _positive_int("n_trials", n_trials)
    if parallel is not None:
        config["parallel"] = _positive_int("parallel", parallel)
    record = SweepRecord(**{**record.__dict__, "config": config})
    spec = SpaceSpec.from_json(config["space"])
    sweeps.set_status(record.id, "running")
    return _execute_here(
        sweeps, record, objective, spec, config["sampler"], config["pruner"], setup, progress
    )


def load_sweep(sweep_id: str) -> Sweep:
    """A stored sweep's handle (best trial, trials DataFrame, ``resume()``), by id or prefix."""
    sweeps = _sweep_store()
    return Sweep(sweeps, sweeps.get(sweep_id), resumer=resume_sweep, opener=_sweep_store)


def _stored_objective(record: SweepRecord) -> Objective:
    if record.objective.startswith("command:"):
        return CommandObjective(
            record.objective[len("command:") :], record.metric, cwd=record.config.get("workdir")
        )
    if not record.objective:
        raise ValidationError(
            f"sweep {record.id}'s objective was a lambda or nested function, which cannot be imported "
            "again; pass it: loopml.resume_sweep(id, objective=fn)"
        )
    fn: Objective = load_ref(record.objective)
    return fn


def _use_store_process(executor: str, objective: Objective) -> bool:
    """Whether the sweep's writes go through a forked store process (see ``_writer``).

    Only where it saves something: this process has not opened its store yet (a fresh process),
    trials run locally on forked workers, and a trial is a function (a command trial's process
    needs its run in the store before it starts).
    """
    import multiprocessing as mp

    from loopml.tracking import default_session_open

    return (
        executor == "local"
        and not isinstance(objective, CommandObjective)
        and "fork" in mp.get_all_start_methods()
        and not default_session_open()
    )


def _execute_here(
    sweeps: SweepStore,
    record: SweepRecord,
    objective: Objective,
    spec: SpaceSpec,
    sampler_name: Any,
    pruner_name: Any,
    setup: Callable[[], Any] | None,
    progress: bool | None,
) -> Sweep:
    """Run a sweep writing through this process's store (a background thread)."""
    from loopml.tracking import run_attributes

    config = record.config
    stored = sweeps.load_trials(record.id)
    if isinstance(objective, CommandObjective):
        objective.settings = sweeps.store.settings
        objective.cwd = objective.cwd or config.get("workdir")
    writer = TrialWriter(sweeps, record.project, record.id, run_attributes())
    cached = (lambda: sweeps.cached_results(config["objective_key"])) if config["cache"] else dict
    return _execute(
        writer, sweeps, record, stored, cached, sweeps.store.settings.heartbeat_interval,
        objective, spec, sampler_name, pruner_name, setup, progress,
    )  # fmt: skip


def _execute(
    writer: TrialWriter | ProcessWriter,
    sweeps: SweepStore | None,
    record: SweepRecord,
    stored: list[TrialRow],
    cached: Callable[[], dict[str, tuple[float, str]]],
    heartbeat_interval: float,
    objective: Objective,
    spec: SpaceSpec,
    sampler_name: Any,
    pruner_name: Any,
    setup: Callable[[], Any] | None,
    progress: bool | None,
) -> Sweep:
    config = record.config
    seed = config.get("seed")
    if seed is not None and stored:
        seed = seed + len(stored)  # a resumed seeded sampler must not replay the first draws
    search: Search
    if uses_stdlib_random(sampler_name, pruner_name, spec):
        search = RandomSearch(spec, seed)
    else:
        study = build_study(
            record.direction,
            make_sampler(sampler_name, spec, seed),
            make_pruner(pruner_name),
            stored,
        )
        search = OptunaSearch(study, spec)
    executor = _make_executor(config)
    status = "stopped"
    try:
        # The pool starts before anything waits on the store: workers fork while the store opens.
        executor.start(objective, record.metric, setup)
        controller = Controller(
            writer,
            cached(),
            record.id,
            record.project,
            record.name,
            record.metric,
            record.direction,
            search,
            executor,
            n_trials=config["n_trials"],
            retries=config["retries"],
            objective_key=config["objective_key"],
            cache=config["cache"],
            stored=stored,
            runs_before_start=isinstance(objective, CommandObjective),
            heartbeat_interval=heartbeat_interval,
        )
        show = sys.stdout.isatty() if progress is None else progress
        if show:
            from loopml.sweeps._progress import ProgressView

            with ProgressView(config["n_trials"], record.name, record.metric) as view:
                controller.run(view)
        else:
            controller.run()
        status = "finished"
    except BaseException as exc:
        exc.loopml_sweep_id = record.id  # type: ignore[attr-defined]  # for the CLI's message
        if not ctrl_c_twice(exc):  # the second stops the waiting for the store: stop now
            with contextlib.suppress(Exception):  # a broken store must not hide why it stopped
                executor.shutdown(kill=True)
                writer.close("stopped")
        raise
    final = writer.close(status)
    return Sweep(sweeps, final, objective, resumer=resume_sweep, opener=_sweep_store)


def _use_workdir(workdir: str | None) -> None:
    # ``module:function`` objectives next to the sweep file import as they would from there.
    if workdir and workdir not in sys.path:
        sys.path.insert(0, workdir)


def _make_executor(config: dict[str, Any]) -> Executor:
    if config["executor"] == "ray":
        from loopml.sweeps._ray import RayExecutor

        return RayExecutor(
            config["parallel"], config["timeout_per_trial"], config.get("ray_address")
        )
    from loopml.sweeps._local import LocalExecutor

    return LocalExecutor(config["parallel"], config["timeout_per_trial"])


def _sweep_store() -> SweepStore:
    """This process's store's sweeps surface (the default session's store)."""
    from loopml.tracking import default_session

    return default_session().sweeps  # the local store's, or a team server's


def _check_metric(metric: Any, direction: Any) -> tuple[str, str]:
    if not isinstance(metric, str) or not metric:
        raise ValidationError(
            f"metric must be the name of a metric, e.g. 'val_acc', not {metric!r}"
        )
    check_key(metric)
    aliases = {"max": "max", "maximize": "max", "min": "min", "minimize": "min"}
    if direction not in aliases:
        raise ValidationError(f"direction must be 'max' or 'min', not {direction!r}")
    return metric, aliases[direction]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be a positive integer, not {value!r}")
    return value
