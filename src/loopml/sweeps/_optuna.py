"""Optuna as a library: samplers, pruners, and a study rebuilt from the trials loopml stored.

The study lives in Optuna's in-memory storage, a cache of what the store holds; loopml's store
is the source of truth, and resuming a sweep replays its stored trials into a fresh study.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.sweeps._space import SpaceSpec

if TYPE_CHECKING:
    import optuna

    from loopml.store import TrialRow

__all__ = ["PRUNERS", "SAMPLERS", "build_study", "make_pruner", "make_sampler", "tell"]

SAMPLERS = ("tpe", "random", "grid", "cmaes", "qmc")
PRUNERS = ("median", "asha", "hyperband")
_STUDY_NAME = "loopml-sweep"  # every sweep's in-memory study (see ``build_study``)


def make_sampler(name: Any, space: SpaceSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name (or an Optuna sampler instance, used as is)."""
    import optuna

    if isinstance(name, optuna.samplers.BaseSampler):
        return name
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return _grid_sampler(space.grid(), seed)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            from loopml._errors import MissingDependencyError

            raise MissingDependencyError(
                "sampler 'cmaes' needs the cmaes package: pip install cmaes"
            ) from None
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "qmc":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    raise ValidationError(
        f"unknown sampler {name!r}; use one of {', '.join(SAMPLERS)} (or an Optuna sampler)"
    )


def _grid_sampler(grid: dict[str, list[Any]], seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        # Optuna's grid sampler stops ``study.optimize`` when the grid is used up, which is an
        # error outside ``optimize``; loopml caps the budget at the grid's size instead.
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            with contextlib.suppress(RuntimeError):
                super().after_trial(study, trial, state, values)

    return GridSampler(grid, seed=seed)


def make_pruner(name: Any) -> optuna.pruners.BasePruner:
    """An Optuna pruner by name (None: never prune; or an Optuna pruner instance)."""
    import optuna

    if name is None:
        return optuna.pruners.NopPruner()
    if isinstance(name, optuna.pruners.BasePruner):
        return name
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    raise ValidationError(
        f"unknown pruner {name!r}; use one of {', '.join(PRUNERS)}, None, or an Optuna pruner"
    )


def build_study(
    direction: str,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    stored: list[TrialRow],
) -> optuna.Study:
    """A fresh in-memory study holding the ended trials in ``stored`` (finished, pruned, failed)."""
    import optuna
    from optuna.distributions import json_to_distribution
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Named, not left to Optuna's random name: Hyperband puts each trial in a bracket by a hash
    # of the study's name and the trial's number, so a seeded sweep would prune differently on
    # every run.
    study = optuna.create_study(
        study_name=_STUDY_NAME,
        direction="maximize" if direction == "max" else "minimize",
        sampler=sampler,
        pruner=pruner,
    )
    states = {
        "finished": TrialState.COMPLETE,
        "pruned": TrialState.PRUNED,
        "failed": TrialState.FAIL,
    }
    frozen = []
    for row in stored:
        state = states.get(row.state)
        if state is None:
            continue
        dists = {k: json_to_distribution(v) for k, v in row.distributions.items()}
        frozen.append(
            create_trial(
                state=state,
                value=row.value if state == TrialState.COMPLETE else None,
                params={k: row.params[k] for k in dists},
                distributions=dists,
                intermediate_values=row.intermediate,
            )
        )
    if frozen:
        study.add_trials(frozen)
    return study


def tell(
    study: optuna.Study, trial: optuna.trial.Trial, value: float | None = None, state: Any = None
) -> None:
    """``study.tell(trial, value, state)``, without deep-copying the finished trial it returns.

    That copy is a third of ``tell``'s cost and loopml never reads it; Optuna's own
    ``study.optimize`` loop calls the same internal function for the same reason. Falls back to
    ``study.tell`` if a later Optuna moves it.
    """
    global _TELL
    if _TELL is None:
        try:
            from optuna.study._tell import _tell_with_warning

            _TELL = _tell_with_warning
        except ImportError:  # pragma: no cover - depends on Optuna's internals
            _TELL = False
    if _TELL:
        _TELL(study=study, trial=trial, value_or_values=value, state=state)
    else:  # pragma: no cover
        study.tell(trial, value, state)


_TELL: Any = None  # Optuna's internal tell, found on first use (False: not there)


class OptunaSearch:
    """The controller's search through an Optuna study (``RandomSearch``'s sibling).

    ``ask`` returns the Optuna trial as the handle, the params (fixed ones included) and the
    distributions in Optuna's JSON form; ``tell`` and ``report`` go to the study and its pruner.
    """

    def __init__(self, study: optuna.Study, space: SpaceSpec) -> None:
        from optuna.distributions import distribution_to_json

        self.study = study
        self.space = space
        self._to_json = distribution_to_json
        self.dists = space.distributions()
        # A fixed space asks every trial with ``self.dists``: encode them once (reading
        # ``trial.distributions`` deep-copies them, a tenth of a millisecond a trial).
        self._dists_json = {k: distribution_to_json(d) for k, d in self.dists.items()}

    def enqueue(self, params: dict[str, Any]) -> None:
        """The next ``ask`` returns these params (a resumed trial runs again with its own)."""
        self.study.enqueue_trial(params, skip_if_exists=False)

    def ask(self) -> tuple[optuna.trial.Trial, dict[str, Any], dict[str, str]]:
        """A new trial: the Optuna trial, its params and their distributions as JSON."""
        if self.space.function is not None:
            trial = self.study.ask()
            chosen = self.space.function(trial)
            params = {**trial.params, **dict(chosen or {})}
            dists = {k: self._to_json(d) for k, d in trial.distributions.items()}
            return trial, params, dists
        trial = self.study.ask(self.dists)
        return trial, {**self.space.fixed, **trial.params}, self._dists_json

    def tell(
        self, handle: optuna.trial.Trial, value: float | None = None, state: str = "finished"
    ) -> None:
        """Tell the study how the trial ended (``finished`` with its value, ``pruned``, ``failed``)."""
        from optuna.trial import TrialState

        if state == "finished":
            tell(self.study, handle, value)
        else:
            tell(
                self.study,
                handle,
                state=TrialState.PRUNED if state == "pruned" else TrialState.FAIL,
            )

    def report(self, handle: optuna.trial.Trial, value: float, step: int) -> bool:
        """Report an intermediate value; whether the pruner stops the trial."""
        handle.report(value, step)
        return bool(handle.should_prune())
