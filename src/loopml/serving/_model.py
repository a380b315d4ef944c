"""A loaded model version ready to answer: builds its input from typed columns, calls it once per
micro-batch, and returns labels, confidences and probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import numpy as np

    from loopml.registry import ModelVersion, Signature
    from loopml.store import Store

__all__ = ["Output", "ServedModel", "load_served"]


@dataclass(frozen=True)
class Output:
    """What a model answered for a batch of rows."""

    predictions: list[Any]
    confidence: list[float] | None
    probabilities: list[list[float]] | None


class ServedModel:
    """One model version in memory. ``predict`` is called from one thread at a time."""

    def __init__(self, version: ModelVersion, model: Any) -> None:
        if version.signature is None:
            raise ValidationError(
                f"model {version.ref} has no input signature, so requests cannot be checked; "
                "register it again with example=<a few input rows>"
            )
        self.version = version
        self.model = model
        self.signature: Signature = version.signature
        self.classes = list(version.classes) if version.classes is not None else None
        self.has_proba = self.classes is not None and hasattr(model, "predict_proba")
        # A model fitted on a DataFrame of numbers can take the same columns as one 2-D array:
        # for a single row, sklearn's checks of a DataFrame cost about as much as the model.
        self.as_array = not self.signature.frame or _array_ok(self)

    @property
    def number(self) -> int:
        """The version number."""
        return self.version.version

    def frame(self, columns: dict[str, np.ndarray]) -> Any:
        """The model's input: a DataFrame (fitted on one) or a 2-D array."""
        import numpy as np

        sig = self.signature
        if self.as_array:
            return np.column_stack([columns[n] for n in sig.names])
        import pandas as pd

        data: dict[str, Any] = {}
        for f in sig.features:
            col = columns[f.name]
            if f.dtype == "category":
                data[f.name] = pd.Categorical(col, categories=list(f.categories or ()))
            else:
                data[f.name] = col
        return pd.DataFrame(data, copy=False)

    def predict(self, columns: dict[str, np.ndarray]) -> Output:
        """Answer every row of ``columns`` with one model call."""
        import numpy as np

        x = self.frame(columns)
        if self.has_proba:
            proba = np.asarray(self.model.predict_proba(x), dtype=np.float64)
            best = proba.argmax(axis=1)
            classes = self.classes or []
            return Output(
                [classes[i] for i in best.tolist()],
                proba.max(axis=1).tolist(),
                proba.tolist(),
            )
        raw = np.asarray(self.model.predict(x)).ravel()
        return Output([v.item() if hasattr(v, "item") else v for v in raw], None, None)


_NUMERIC = frozenset(("float64", "int64", "bool"))
# What sklearn says when an array reaches a model fitted on a DataFrame. The server checked the
# names itself (the signature), and `_array_ok` proved the array gives the same answers.
_NAMES_WARNING = "X does not have valid feature names"


def _array_ok(served: ServedModel) -> bool:
    """Whether ``served`` answers a 2-D array exactly as it answers the DataFrame.

    Only for numeric columns, in the order the model was fitted with; then proven on probe rows
    (a pipeline that picks columns by name fails or differs here and keeps the DataFrame).
    """
    import warnings

    import numpy as np

    sig = served.signature
    if any(f.dtype not in _NUMERIC for f in sig.features):
        return False
    fitted = getattr(served.model, "feature_names_in_", None)
    if fitted is None or [str(n) for n in fitted] != sig.names:
        return False
    rng = np.random.default_rng(0)
    cols: dict[str, np.ndarray] = {}
    for f in sig.features:
        if f.dtype == "float64":
            cols[f.name] = np.concatenate([[0.0, 1.0, -1.0], rng.normal(0, 3, 5)])
        elif f.dtype == "int64":
            cols[f.name] = np.concatenate([[0, 1, -1], rng.integers(-5, 6, 5)])
        else:
            cols[f.name] = np.array([False, True, False, True, True, False, False, True])
    served.as_array = False
    method = "predict_proba" if served.has_proba else "predict"
    call = getattr(served.model, method)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            by_frame = np.asarray(call(served.frame(cols)))
            by_array = np.asarray(call(np.column_stack([cols[n] for n in sig.names])))
    except Exception:  # the model needs its DataFrame (columns picked by name, ...)
        return False
    if by_frame.shape != by_array.shape or not np.array_equal(by_frame, by_array):
        return False
    warnings.filterwarnings("ignore", message=_NAMES_WARNING, category=UserWarning)
    return True


def load_served(ref: str, store: Store, *, trust: bool = False) -> ServedModel:
    """Resolve ``ref`` (``name@alias`` or ``name/3``) and load its model."""
    import loopml.registry as reg

    version = reg.get(ref, store=store)
    return ServedModel(version, version.load(trust=trust))
