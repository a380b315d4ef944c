"""Hugging Face transformers: ``loopml.integrations.transformers.LoopmlCallback``.

A ``TrainerCallback`` for ``Trainer(callbacks=[LoopmlCallback()])``: on train begin it records
the ``TrainingArguments`` and the model's config as params; each ``on_log`` (every
``logging_steps``) logs the numbers (``loss``, ``learning_rate``, ``eval_loss``...) at step =
the global step; on train end it finishes the run it started (a later ``trainer.evaluate()``
reopens it for its figures). Only the main process logs.
Set ``report_to=[]`` (or ``"none"``) in ``TrainingArguments`` to keep other trackers out.
"""

from __future__ import annotations

from typing import Any

from loopml.integrations._common import RunOwner, log_params_soft, metric_key, require

__all__ = ["BELOW_VERSION", "MIN_VERSION", "LoopmlCallback"]

MIN_VERSION, BELOW_VERSION = "4.40", "6"

# TrainingArguments fields worth a param; the rest (paths, hub tokens, logging switches) are noise.
_ARGS = (
    "learning_rate",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "weight_decay",
    "warmup_steps",
    "warmup_ratio",
    "lr_scheduler_type",
    "optim",
    "seed",
    "fp16",
    "bf16",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
)

# Made on first access by __getattr__ below (the annotation only declares the name).
LoopmlCallback: type

_built: dict[str, type] = {}


def _build() -> type:
    transformers: Any = require("transformers", "transformers", MIN_VERSION, BELOW_VERSION)

    class LoopmlCallback(transformers.TrainerCallback):
        """Logs a ``Trainer``'s arguments, model config and logs to ``run``.

        ``run`` defaults to the active run, else a new run in ``project`` (default
        ``"transformers"``).
        """

        def __init__(self, run: Any = None, *, project: str | None = None) -> None:
            self._owner = RunOwner(run, project, default_project="transformers")

        @property
        def run(self) -> Any:
            """The run this callback logs to (None before training starts)."""
            return self._owner.run

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            params = {f"args.{k}": getattr(args, k) for k in _ARGS if hasattr(args, k)}
            model = kwargs.get("model")
            config = getattr(model, "config", None)
            if config is not None:
                params["model_class"] = type(model).__name__
                for k, v in config.to_diff_dict().items():
                    if isinstance(v, (int, float, str, bool)):
                        params[f"config.{k}"] = v
            run = self._owner.get(params)
            if not self._owner.owned:
                log_params_soft(run, params)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            if not state.is_world_process_zero or not logs:
                return
            values = {
                metric_key(k): float(v)
                for k, v in logs.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            if not values:
                return
            run = self._owner.get()
            if run.status != "running" and self._owner.owned:
                # trainer.evaluate() after training: reopen the run for these values only.
                import loopml

                again = loopml.init(project=run.project, id=run.id, system_metrics=False)
                again.log(values, step=int(state.global_step))
                again.finish()
                return
            run.log(values, step=int(state.global_step))

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                self._owner.close()

    LoopmlCallback.__module__ = __name__
    LoopmlCallback.__qualname__ = "LoopmlCallback"
    return LoopmlCallback


def __getattr__(name: str) -> Any:
    # The class subclasses transformers.TrainerCallback: transformers loads on first use only.
    if name == "LoopmlCallback":
        if name not in _built:
            _built[name] = _build()
        return _built[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
