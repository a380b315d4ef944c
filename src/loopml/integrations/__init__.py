"""Framework integrations: one small module per framework, each importing it only when used.

- ``loopml.integrations.sklearn.autolog()``: params, fit time, scores and the fitted model
  (skops) for every ``fit``; search candidates as child runs.
- ``loopml.integrations.lightgbm.callback()``, ``loopml.integrations.xgboost.callback()``:
  every evaluation metric per boosting round, feature importances, pruning in a sweep trial.
- ``loopml.integrations.keras.Callback``: per epoch and every N batches (Keras 3).
- ``loopml.integrations.lightning.LoopmlLogger``: a PyTorch Lightning ``Logger``.
- ``loopml.integrations.transformers.LoopmlCallback``: a Hugging Face ``TrainerCallback``.

Importing this package imports no framework; each submodule checks its framework's version.
"""

__all__: list[str] = []
