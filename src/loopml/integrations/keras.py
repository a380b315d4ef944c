"""Keras 3: ``loopml.integrations.keras.Callback`` for ``model.fit(callbacks=[...])``.

Logs the epoch's metrics (``loss``, ``val_loss``, ``accuracy``...) at step = epoch, and with
``log_every_n_batches=N`` the running batch metrics as ``batch/<name>`` every N batches at
step = the global batch number. On ``fit`` start it records the optimizer, learning rate,
epochs and steps per epoch as params. Works on every Keras 3 backend (JAX, TensorFlow, torch).
Inside a sweep trial, ``prune_on="val_loss"`` reports that metric each epoch and stops training
(``model.stop_training``) when the sweep's pruner says so; the trial ends ``pruned``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from loopml.integrations._common import RunOwner, log_params_soft, metric_key, require

__all__ = ["BELOW_VERSION", "MIN_VERSION", "Callback"]

MIN_VERSION, BELOW_VERSION = "3.0", "4"

# Made on first access by __getattr__ below (the annotation only declares the name).
Callback: type

_built: dict[str, type] = {}


def _build() -> type:
    keras: Any = require(
        "keras",
        "keras",
        MIN_VERSION,
        BELOW_VERSION,
        hint="Keras loads the backend named by KERAS_BACKEND (default tensorflow): install it, "
        "or set KERAS_BACKEND=jax (or torch) before importing keras",
    )
    from loopml._errors import ValidationError

    class Callback(keras.callbacks.Callback):
        """A Keras callback logging to ``run`` (default: the active run, else a new run).

        ``project`` starts a new run there even when one is active; ``log_every_n_batches``
        also logs batch metrics every N batches (0: epochs only); ``prune_on`` names an epoch
        metric to report to a sweep's pruner.
        """

        def __init__(
            self,
            run: Any = None,
            *,
            project: str | None = None,
            log_every_n_batches: int = 0,
            prune_on: str | None = None,
        ) -> None:
            super().__init__()
            n = log_every_n_batches
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValidationError(
                    f"log_every_n_batches must be an integer >= 0 (0: epochs only), not {n!r}"
                )
            self._owner = RunOwner(run, project, default_project="keras")
            self._every = n
            self._prune_on = prune_on
            self._batches = 0
            self.pruned = False
            if not n:
                # Keras runs batch hooks off the training thread (and skips turning each
                # batch's logs into Python numbers for them) only while no callback overrides
                # them: without batch logging this one keeps Keras's own do-nothing hook.
                default = keras.callbacks.Callback.on_train_batch_end
                self.__dict__["on_train_batch_end"] = default.__get__(self)

        @property
        def run(self) -> Any:
            """The run this callback logs to (None before training starts)."""
            return self._owner.run

        def on_train_begin(self, logs: Any = None) -> None:
            params: dict[str, Any] = {
                k: v for k, v in (self.params or {}).items() if k in ("epochs", "steps")
            }
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None:
                params["optimizer"] = type(optimizer).__name__
                with contextlib.suppress(Exception):
                    params["learning_rate"] = float(
                        keras.ops.convert_to_numpy(optimizer.learning_rate)
                    )
            params["keras_backend"] = keras.backend.backend()
            run = self._owner.get(params)
            if not self._owner.owned:
                log_params_soft(run, params)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self._batches += 1
            if self._every and self._batches % self._every == 0 and logs:
                self._owner.run.log(
                    {metric_key("batch", k): float(v) for k, v in logs.items() if _is_number(v)},
                    step=self._batches,
                )

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            values = {metric_key(k): float(v) for k, v in (logs or {}).items() if _is_number(v)}
            run = self._owner.run
            run.log(values, step=epoch)
            if self._prune_on is not None:
                if self._prune_on not in values:
                    raise ValidationError(
                        f"prune_on={self._prune_on!r} is not among the epoch metrics {sorted(values)}"
                    )
                run.report(values[self._prune_on], epoch)
                if run.should_stop():
                    self.pruned = True
                    self.model.stop_training = True

        def on_train_end(self, logs: Any = None) -> None:
            self._owner.close("pruned" if self.pruned else "finished")

    Callback.__module__ = __name__
    Callback.__qualname__ = "Callback"
    return Callback


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def __getattr__(name: str) -> Any:
    # The class subclasses keras.callbacks.Callback, so it is made (and keras imported and its
    # version checked) when first asked for, not when this module is imported.
    if name == "Callback":
        if "Callback" not in _built:
            _built["Callback"] = _build()
        return _built["Callback"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
