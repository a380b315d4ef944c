"""PyTorch Lightning: ``loopml.integrations.lightning.LoopmlLogger`` for ``Trainer(logger=...)``.

Implements Lightning's ``Logger`` interface: ``log_hyperparams`` records the module's
hyperparameters (``self.save_hyperparameters()``) as params, ``log_metrics`` each
``self.log(...)`` value at step = the global step, ``finalize`` ends the run with Lightning's
status (``success`` -> finished, ``failed`` -> failed). With ``log_model=True`` the checkpoints
Lightning saves are copied into the run's artifacts. Only rank zero logs.
"""

from __future__ import annotations

from typing import Any

from loopml.integrations._common import RunOwner, log_params_soft, metric_key, require

__all__ = ["BELOW_VERSION", "MIN_VERSION", "LoopmlLogger"]

MIN_VERSION, BELOW_VERSION = "2.0", "3"

# Made on first access by __getattr__ below (the annotation only declares the name).
LoopmlLogger: type

_built: dict[str, type] = {}


def _build() -> type:
    import importlib

    require("lightning", "lightning", MIN_VERSION, BELOW_VERSION)
    # Typed Any on purpose: mypy sees the same code whether lightning is installed or not.
    loggers: Any = importlib.import_module("lightning.pytorch.loggers.logger")
    utilities: Any = importlib.import_module("lightning.pytorch.utilities")
    rank_zero_experiment = loggers.rank_zero_experiment
    rank_zero_only = utilities.rank_zero_only

    class LoopmlLogger(loggers.Logger):
        """A Lightning logger writing to ``run`` (default: the active run, else a new run).

        ``project`` and ``name`` name the run it starts; ``log_model=True`` saves checkpoints.
        """

        def __init__(
            self,
            run: Any = None,
            *,
            project: str | None = None,
            name: str | None = None,
            log_model: bool = False,
        ) -> None:
            super().__init__()
            self._owner = RunOwner(run, project, name, default_project="lightning")
            self._log_model = log_model
            self._saved: set[str] = set()

        @property
        def name(self) -> str:
            """The project runs are logged to."""
            run = self._owner.run
            return str(run.project) if run is not None else (self._owner._project or "lightning")

        @property
        def version(self) -> str:
            """The run's id."""
            return str(self.experiment.id)

        @property
        @rank_zero_experiment
        def experiment(self) -> Any:
            """The loopml run (started on first use)."""
            return self._owner.get()

        @property
        def run(self) -> Any:
            """The loopml run (started on first use)."""
            return self.experiment

        @rank_zero_only
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            """Record hyperparameters as the run's params (nested dicts flattened with dots)."""
            if not isinstance(params, dict):
                params = vars(params)  # argparse.Namespace
            log_params_soft(self.experiment, _flatten(params))

        @rank_zero_only
        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            """Record the logged values at ``step`` (the trainer's global step)."""
            values = {}
            for k, v in metrics.items():
                try:
                    values[metric_key(k)] = float(v)
                except (TypeError, ValueError):
                    continue
            if values:
                self.experiment.log(values, step=step)

        @rank_zero_only
        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            """Copy new checkpoints into the run's artifacts when ``log_model`` is on."""
            if not self._log_model:
                return
            import os

            path = getattr(checkpoint_callback, "best_model_path", "") or getattr(
                checkpoint_callback, "last_model_path", ""
            )
            if path and path not in self._saved and os.path.exists(path):
                self._saved.add(path)
                self.experiment.log_artifact(path, f"checkpoints/{os.path.basename(path)}")

        @rank_zero_only
        def finalize(self, status: str) -> None:
            """End the run the logger started, with Lightning's final status."""
            if self._owner.run is None:
                return
            self._owner.close({"success": "finished", "failed": "failed"}.get(status, "finished"))

    LoopmlLogger.__module__ = __name__
    LoopmlLogger.__qualname__ = "LoopmlLogger"
    return LoopmlLogger


def _flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def __getattr__(name: str) -> Any:
    # The class subclasses Lightning's Logger, so lightning is imported when it is first asked for.
    if name == "LoopmlLogger":
        if name not in _built:
            _built[name] = _build()
        return _built[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
