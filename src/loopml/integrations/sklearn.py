"""scikit-learn autologging: ``loopml.integrations.sklearn.autolog()``.

After ``autolog()``, every top-level ``fit`` of a scikit-learn estimator (pipelines and
searches included) is recorded: the estimator's params, ``fit_time_s``, training scores,
validation scores when ``validation_data`` is given, and the fitted model as a ``model.skops``
artifact. ``GridSearchCV`` / ``RandomizedSearchCV`` also record each candidate as a child run:
loopml runs have no parent column, so a child carries the tag ``parent_run`` (the search run's
id) and the parent the tag ``child_runs`` (how many). A fit inside an open run
(``with loopml.init(...)``) logs to that run; otherwise each fit gets a run of its own.
"""

from __future__ import annotations

import functools
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.integrations._common import RunOwner, as_param, log_params_soft, metric_key, require

__all__ = ["autolog"]

MIN_VERSION, BELOW_VERSION = "1.3", "2"

_state = threading.local()  # depth of patched fit calls on this thread (only the outer one logs)
_patched: dict[type, Callable[..., Any]] = {}
_options: dict[str, Any] = {}
_lock = threading.Lock()


def autolog(
    project: str | None = None,
    *,
    validation_data: tuple[Any, Any] | None = None,
    log_models: bool = True,
    max_child_runs: int = 100,
    disable: bool = False,
) -> None:
    """Record every scikit-learn ``fit`` from now on (``disable=True`` stops it).

    ``project``: where runs of fits outside an open run go (default ``"sklearn"``).
    ``validation_data``: ``(X_val, y_val)`` scored after each fit as ``validation_*`` metrics.
    ``log_models``: save the fitted estimator as ``model.skops``.
    ``max_child_runs``: at most this many search candidates become child runs (best first).
    """
    if project is not None:
        from loopml._values import check_project

        check_project(project)
    if validation_data is not None and (
        not isinstance(validation_data, tuple) or len(validation_data) != 2
    ):
        from loopml._errors import ValidationError

        raise ValidationError(
            f"validation_data must be a tuple (X_val, y_val), not {type(validation_data).__name__}"
        )
    if not isinstance(max_child_runs, int) or max_child_runs < 0:
        from loopml._errors import ValidationError

        raise ValidationError(f"max_child_runs must be an integer >= 0, not {max_child_runs!r}")
    sklearn = require("sklearn", "scikit-learn", MIN_VERSION, BELOW_VERSION)
    with _lock:
        if disable:
            for cls, fit in _patched.items():
                cls.fit = fit  # type: ignore[attr-defined]
            _patched.clear()
            _options.clear()
            return
        _options.update(
            project=project or "sklearn",
            validation_data=validation_data,
            log_models=log_models,
            max_child_runs=max_child_runs,
        )
        for estimator in _estimator_classes(sklearn):
            # Patch the class that defines fit (GridSearchCV inherits it from BaseSearchCV).
            owner = next((c for c in estimator.__mro__ if "fit" in c.__dict__), None)
            if owner is None or owner in _patched:
                continue
            fit = owner.__dict__["fit"]
            if getattr(fit, "_loopml_patched", False):
                continue
            _patched[owner] = fit
            owner.fit = _wrap(fit)  # type: ignore[attr-defined]


def _estimator_classes(sklearn: Any) -> list[type]:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classes = [cls for _, cls in all_estimators()]
    return [*classes, Pipeline, GridSearchCV, RandomizedSearchCV]


def _wrap(fit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fit)
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_state, "depth", 0)
        if depth or not _options:
            return fit(self, *args, **kwargs)
        _state.depth = 1
        try:
            return _logged_fit(fit, self, args, kwargs)
        finally:
            _state.depth = 0

    patched._loopml_patched = True  # type: ignore[attr-defined]
    return patched


def _logged_fit(
    fit: Callable[..., Any], est: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    owner = RunOwner(name=type(est).__name__, default_project=_options["project"])
    run = owner.get()
    start = time.perf_counter()
    try:
        result = fit(est, *args, **kwargs)
    except BaseException:
        import traceback

        if owner.owned:
            run.finish("failed", error=traceback.format_exc())
        raise
    fit_time = time.perf_counter() - start
    try:
        _record(run, est, fit_time, args, kwargs)
    except Exception as exc:  # logging must never break the user's fit
        warnings.warn(
            f"loopml sklearn autolog: not all was recorded ({exc})", RuntimeWarning, stacklevel=3
        )
    owner.close()
    return result


def _record(
    run: Any, est: Any, fit_time: float, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    import sklearn

    log_params_soft(run, {k: as_param(v) for k, v in _flat_params(est).items()})
    run.set_tags({"estimator_class": type(est).__name__, "sklearn_version": sklearn.__version__})
    metrics: dict[str, float] = {"fit_time_s": fit_time}
    x = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    if y is not None:
        metrics.update(_scores(est, x, y, "training"))
    if _options.get("validation_data") is not None:
        xv, yv = _options["validation_data"]
        try:
            metrics.update(_scores(est, xv, yv, "validation"))
        except Exception as exc:
            warnings.warn(
                f"loopml sklearn autolog: validation_data could not be scored by "
                f"{type(est).__name__} ({exc})",
                RuntimeWarning,
                stacklevel=4,
            )
    if hasattr(est, "cv_results_"):
        metrics.update(_search_summary(est))
    run.log(metrics, step=0)
    if hasattr(est, "cv_results_"):
        _child_runs(run, est)
    if _options.get("log_models"):
        _save_model(run, est)


def _flat_params(est: Any) -> dict[str, Any]:
    params = est.get_params(deep=True)
    # Nested estimators show as their class name; their own params follow as name__param.
    return {k: (type(v).__name__ if hasattr(v, "get_params") else v) for k, v in params.items()}


def _scores(est: Any, x: Any, y: Any, prefix: str) -> dict[str, float]:
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}
    if hasattr(est, "score"):
        out[f"{prefix}_score"] = float(est.score(x, y))
    inner = getattr(est, "best_estimator_", est)
    if not hasattr(est, "predict"):
        return out
    if is_classifier(inner):
        from sklearn import metrics as m

        pred = est.predict(x)
        out[f"{prefix}_accuracy"] = float(m.accuracy_score(y, pred))
        out[f"{prefix}_f1"] = float(m.f1_score(y, pred, average="weighted", zero_division=0))
        out[f"{prefix}_precision"] = float(
            m.precision_score(y, pred, average="weighted", zero_division=0)
        )
        out[f"{prefix}_recall"] = float(
            m.recall_score(y, pred, average="weighted", zero_division=0)
        )
    elif is_regressor(inner):
        from sklearn import metrics as m

        pred = est.predict(x)
        out[f"{prefix}_mse"] = float(m.mean_squared_error(y, pred))
        out[f"{prefix}_mae"] = float(m.mean_absolute_error(y, pred))
        out[f"{prefix}_r2"] = float(m.r2_score(y, pred))
    return out


def _search_summary(est: Any) -> dict[str, float]:
    out = {"best_cv_score": float(est.best_score_)} if hasattr(est, "best_score_") else {}
    return out


def _child_runs(parent: Any, search: Any) -> None:
    import loopml

    results = search.cv_results_
    n = len(results["params"])
    ranks = results.get("rank_test_score")
    order = sorted(range(n), key=lambda i: ranks[i]) if ranks is not None else list(range(n))
    order = order[: _options.get("max_child_runs", 100)]
    numeric = [
        k
        for k in results
        if (k.startswith(("mean_", "std_", "rank_")) and not k.startswith("param_"))
    ]
    for i in order:
        params = {k: as_param(v) for k, v in results["params"][i].items()}
        child = loopml.init(
            project=parent.project,
            name=f"{parent.name}-candidate-{i}",
            config=params,
            tags={"parent_run": parent.id, "candidate": i},
            system_metrics=False,
        )
        with child:
            values = {}
            for k in numeric:
                try:
                    values[metric_key(k)] = float(results[k][i])
                except (TypeError, ValueError):
                    continue
            child.log(values, step=0)
    parent.set_tags({"child_runs": len(order)})
    best = getattr(search, "best_params_", None)
    if best is not None:
        log_params_soft(parent, {f"best.{k}": as_param(v) for k, v in best.items()})


def _save_model(run: Any, est: Any) -> None:
    import skops.io

    with tempfile.TemporaryDirectory(prefix="loopml-sklearn-") as tmp:
        path = Path(tmp) / "model.skops"
        skops.io.dump(est, path)
        run.log_artifact(str(path), "model.skops")
