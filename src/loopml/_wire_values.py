"""Store-surface values as JSON and back, for calls that cross the team server's HTTP API.

JSON has no tuples, no integer keys, no dataclasses and no arrays; ``encode`` tags each so that
``decode`` rebuilds the same value: ``{"__t": [...]}`` a tuple, ``{"__d": [[k, v], ...]}`` a
dict whose keys are not all strings, ``{"__dc": name, "f": {...}}`` a frozen record (rebuilt
only from the ``types`` the caller allows), ``{"__nd": [...], "dtype": "int64"}`` a NumPy array.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from loopml._errors import ValidationError

__all__ = ["decode", "encode"]


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (see the module docstring for the tags)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__dc": type(value).__name__, "f": fields}
    if isinstance(value, tuple):
        return {"__t": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"__d": [[encode(k), encode(v)] for k, v in value.items()]}
    tolist = getattr(value, "tolist", None)
    dtype = getattr(value, "dtype", None)
    if callable(tolist) and dtype is not None:  # a NumPy array or scalar
        if getattr(value, "ndim", 0) == 0:
            return tolist()
        return {"__nd": tolist(), "dtype": str(dtype)}
    if isinstance(value, (set, frozenset)):
        return [encode(v) for v in sorted(value)]
    raise ValidationError(f"cannot send a {type(value).__name__} to or from the server")


def decode(value: Any, types: dict[str, type]) -> Any:
    """The value ``encode`` wrote; records only of ``types`` (by class name)."""
    if isinstance(value, list):
        return [decode(v, types) for v in value]
    if not isinstance(value, dict):
        return value
    if "__t" in value:
        return tuple(decode(v, types) for v in value["__t"])
    if "__d" in value:
        return {_key(decode(k, types)): decode(v, types) for k, v in value["__d"]}
    if "__dc" in value:
        cls = types.get(str(value["__dc"]))
        if cls is None:
            raise ValidationError(f"unexpected record type {value['__dc']!r} in the answer")
        return cls(**{k: decode(v, types) for k, v in dict(value["f"]).items()})
    if "__nd" in value:
        import numpy as np

        return np.asarray(value["__nd"], dtype=str(value["dtype"]))
    return {k: decode(v, types) for k, v in value.items()}


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k
