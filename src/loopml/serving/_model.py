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

    @property
    def number(self) -> int:
        """The version number."""
        return self.version.version

    def frame(self, columns: dict[str, np.ndarray]) -> Any:
        """The model's input: a DataFrame (fitted on one) or a 2-D array."""
        import numpy as np

        sig = self.signature
        if not sig.frame:
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


def load_served(ref: str, store: Store, *, trust: bool = False) -> ServedModel:
    """Resolve ``ref`` (``name@alias`` or ``name/3``) and load its model."""
    import loopml.registry as reg

    version = reg.get(ref, store=store)
    return ServedModel(version, version.load(trust=trust))
