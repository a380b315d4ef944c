"""How each flavor of model is written to a file and read back safely.

- ``sklearn``: skops (no pickle); loading refuses any type that was not vouched for when the
  version was registered, naming it, so a tampered file cannot run code on load.
- ``onnx``: the model bytes, run with onnxruntime (the ``onnx`` extra).
- ``python``: cloudpickle; loading runs arbitrary code, so it needs ``trust=True``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopml._errors import MissingDependencyError, UnsafeModelError, ValidationError

__all__ = ["FLAVORS", "detect_flavor", "import_loader", "load_file", "save_file", "suffix_of"]

FLAVORS = ("sklearn", "onnx", "python")
_SUFFIX = {"sklearn": ".skops", "onnx": ".onnx", "python": ".pkl"}


def suffix_of(flavor: str) -> str:
    """The file suffix of a flavor."""
    return _SUFFIX[flavor]


def detect_flavor(model: Any) -> str:
    """``sklearn`` for scikit-learn estimators, ``onnx`` for ONNX models, else ``python``."""
    if "sklearn" in sys.modules:
        from sklearn.base import BaseEstimator

        if isinstance(model, BaseEstimator):
            return "sklearn"
    if isinstance(model, (bytes, bytearray)) and _looks_onnx(bytes(model)):
        return "onnx"
    if type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx"):
        return "onnx"
    if isinstance(model, (str, Path)) and str(model).endswith(".onnx"):
        return "onnx"
    return "python"


def import_loader(flavor: str) -> None:
    """Import what reading a ``flavor`` model needs, in the order that makes it cheapest.

    A server's workers call this first thing, before their web stack, so that each pays for
    these imports once and at their lowest price. A missing optional library is left for
    :func:`load_file` to report.
    """
    if flavor == "sklearn":
        # skops works out its default trusted type names when imported: for every numpy and
        # scipy ufunc (~840) it walks the loaded modules, in import order, to the first that
        # holds it. With numpy and scipy.special loaded first that walk ends at once; behind a
        # web stack (FastAPI, SQLAlchemy: ~700 modules) it cost ~0.3 CPU s more per process.
        # The names it finds are the same either way.
        import numpy  # noqa: F401
        import scipy.special  # noqa: F401
        import skops.io  # noqa: F401
    elif flavor == "onnx":
        with contextlib.suppress(ImportError):
            import onnxruntime  # noqa: F401
    elif flavor == "python":
        import cloudpickle  # noqa: F401


def _looks_onnx(data: bytes) -> bool:
    # An ONNX ModelProto starts with field 1 (ir_version, varint): byte 0x08.
    return len(data) > 8 and data[0] == 0x08


def save_file(model: Any, flavor: str, path: Path, trusted_types: Sequence[str]) -> list[str]:
    """Write ``model`` to ``path``; returns the types the file needs trusted (skops) or []."""
    if flavor == "sklearn":
        import skops.io as sio

        sio.dump(model, path)
        untrusted = sorted(sio.get_untrusted_types(file=path))
        # scikit-learn's own classes (e.g. the HistGradientBoosting TreePredictor) are vouched
        # for by the registering user having the fitted object; anything else must be named.
        unvouched = [
            t for t in untrusted if t not in set(trusted_types) and not t.startswith("sklearn.")
        ]
        if unvouched:
            path.unlink(missing_ok=True)
            raise UnsafeModelError(
                f"this model's skops file holds types skops does not trust by default: "
                f"{unvouched}; loading them could run their code. If you trust them, pass "
                f"trusted_types={unvouched!r} to register(); otherwise use a model built from "
                "scikit-learn's own classes"
            )
        return untrusted
    if flavor == "onnx":
        data = _onnx_bytes(model)
        path.write_bytes(data)
        return []
    if flavor == "python":
        try:
            import cloudpickle
        except ImportError:
            raise MissingDependencyError(
                "saving a Python model needs cloudpickle: pip install cloudpickle"
            ) from None
        path.write_bytes(cloudpickle.dumps(model))
        return []
    raise ValidationError(f"flavor {flavor!r} is not one of {list(FLAVORS)}")


def _onnx_bytes(model: Any) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    if isinstance(model, (str, Path)):
        return Path(model).read_bytes()
    if hasattr(model, "SerializeToString"):
        return bytes(model.SerializeToString())
    raise ValidationError(
        f"an ONNX model must be bytes, a path to a .onnx file or an onnx.ModelProto, not "
        f"{type(model).__name__}"
    )


def load_file(
    path: Path,
    flavor: str,
    *,
    vouched: Sequence[str],
    trust: bool,
    extra_trusted: Sequence[str] = (),
    label: str = "",
) -> Any:
    """Read a model file back; refuses what could run code unless it was vouched for."""
    if not path.is_file():
        raise ValidationError(
            f"the file of model {label} is missing at {path}; the data folder was changed by hand"
        )
    if flavor == "sklearn":
        import_loader(flavor)
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException

        allowed = sorted(set(vouched) | set(extra_trusted))
        try:
            # One pass: skops audits every type against ``allowed`` before building anything.
            return sio.load(path, trusted=allowed)
        except UntrustedTypesFoundException:
            refused = sorted(set(sio.get_untrusted_types(file=path)) - set(allowed))
            raise UnsafeModelError(
                f"refusing to load model {label}: its skops file holds types that were not "
                f"trusted when it was registered: {refused}; loading them could run code. "
                "If you know where the file came from, pass trusted_types=[...] naming them"
            ) from None
    if flavor == "onnx":
        return OnnxModel(path.read_bytes())
    if flavor == "python":
        if not trust:
            raise UnsafeModelError(
                f"refusing to load model {label}: it is a pickle (flavor 'python'), and loading "
                "a pickle runs whatever code it holds; load it with trust=True only if you "
                "trust whoever registered it"
            )
        import cloudpickle

        return cloudpickle.loads(path.read_bytes())
    raise ValidationError(f"model {label} has an unknown flavor {flavor!r}")


class OnnxModel:
    """An ONNX model run with onnxruntime, with ``predict`` (and ``predict_proba`` for classifiers).

    Inputs are stacked as one float32 tensor when the graph has one input, else fed by name.
    """

    def __init__(self, data: bytes) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependencyError(
                "running an ONNX model needs onnxruntime: pip install 'loopml[onnx]'"
            ) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one model call per worker thread; no oversubscription
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def _run(self, x: Any) -> list[Any]:
        import numpy as np

        if len(self.inputs) == 1:
            arr = np.asarray(x, dtype=np.float32)
            return list(self.session.run(None, {self.inputs[0]: arr}))
        return list(
            self.session.run(None, {n: np.asarray(x[n]).reshape(-1, 1) for n in self.inputs})
        )

    def predict(self, x: Any) -> Any:
        """The first output (labels or values)."""
        import numpy as np

        return np.asarray(self._run(x)[0]).ravel()

    def predict_proba(self, x: Any) -> Any:
        """The second output as a rows x classes array (ZipMap dicts are unpacked)."""
        import numpy as np

        out = self._run(x)
        if len(out) < 2:
            raise ValidationError("this ONNX model has no probability output")
        probs = out[1]
        if isinstance(probs, list) and probs and isinstance(probs[0], dict):
            keys = list(probs[0])
            return np.array([[row[k] for k in keys] for row in probs], dtype=np.float64)
        return np.asarray(probs, dtype=np.float64)
