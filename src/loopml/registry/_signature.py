"""Input signatures: the columns a model takes (name, dtype, categories), inferred from an example,
and the check every served request goes through."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Feature", "InputError", "Signature", "infer_signature"]

DTYPES = ("float64", "int64", "bool", "string", "category")


class InputError(ValidationError):
    """A request's inputs do not match the model's signature; ``column`` names the culprit."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True, slots=True)
class Feature:
    """One input column: its name, dtype (float64, int64, bool, string, category), categories."""

    name: str
    dtype: str
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Signature:
    """The input columns of a model, in order; ``frame`` says it was fitted on a DataFrame."""

    features: tuple[Feature, ...]
    frame: bool = True

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [f.name for f in self.features]

    def to_json(self) -> str:
        """The signature as JSON text (stored with the model version)."""
        return json.dumps(
            {
                "frame": self.frame,
                "features": [
                    {"name": f.name, "dtype": f.dtype}
                    | ({"categories": list(f.categories)} if f.categories is not None else {})
                    for f in self.features
                ],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Signature:
        """Read back :meth:`to_json`."""
        raw = json.loads(text)
        return cls(
            tuple(
                Feature(
                    f["name"],
                    f["dtype"],
                    tuple(f["categories"]) if f.get("categories") is not None else None,
                )
                for f in raw["features"]
            ),
            bool(raw.get("frame", True)),
        )

    # -- checking requests ---------------------------------------------------------------------
    def columns_from_payload(self, payload: Any) -> dict[str, list[Any]]:
        """Column lists from ``{"records": [...]}`` or ``{"columns": [...], "data": [[...]]}``.

        Raises :class:`InputError` naming the missing or unknown column, or what is malformed.
        """
        if not isinstance(payload, dict):
            raise InputError(
                'the body must be a JSON object: {"records": [{...}]} or '
                '{"columns": [...], "data": [[...]]}'
            )
        names = self.names
        if "records" in payload:
            records = payload["records"]
            if not isinstance(records, list):
                raise InputError('"records" must be a list of objects, one per row')
            expected = set(names)
            for i, rec in enumerate(records):
                if not isinstance(rec, dict):
                    raise InputError(f"records[{i}] must be an object mapping column to value")
                if rec.keys() != expected:
                    self._check_names(list(rec), f"records[{i}]")
            return {n: [rec[n] for rec in records] for n in names}
        if "columns" in payload or "data" in payload:
            cols, data = payload.get("columns"), payload.get("data")
            if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
                raise InputError('"columns" must be a list of column names')
            if not isinstance(data, list):
                raise InputError('"data" must be a list of rows (lists of values)')
            self._check_names(cols, '"columns"')
            width = len(cols)
            for i, row in enumerate(data):
                if not isinstance(row, list) or len(row) != width:
                    raise InputError(f"data[{i}] must be a list of {width} values, one per column")
            index = {c: j for j, c in enumerate(cols)}
            return {n: [row[index[n]] for row in data] for n in names}
        raise InputError(
            'the body has neither "records" nor "columns"/"data"; send {"records": [{...}]}'
        )

    def _check_names(self, given: Sequence[str], where: str) -> None:
        expected = self.names
        given_set = set(given)
        missing = [n for n in expected if n not in given_set]
        if missing:
            raise InputError(
                f"{where} is missing column {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f"; the model takes {_preview(expected)}",
                missing[0],
            )
        extra = [n for n in given if n not in set(expected)]
        if extra:
            import difflib

            close = difflib.get_close_matches(extra[0], expected, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(
                f"{where} has unknown column {extra[0]!r}{hint}; the model takes "
                f"{_preview(expected)}",
                extra[0],
            )
        if len(given) != len(given_set):
            dup = next(n for n in given if list(given).count(n) > 1)
            raise InputError(f"{where} names column {dup!r} twice", dup)

    def coerce(self, columns: Mapping[str, list[Any]]) -> dict[str, np.ndarray]:
        """Typed arrays from column lists; an :class:`InputError` names the first bad column."""
        import numpy as np

        out: dict[str, np.ndarray] = {}
        for f in self.features:
            values = columns[f.name]
            out[f.name] = _coerce_column(f, values, np)
        return out


def _preview(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:8])
    return f"{len(names)} columns: {shown}" + (", ..." if len(names) > 8 else "")


_NUMBER_TYPES = {int, float}


def _bad(f: Feature, value: Any, want: str) -> InputError:
    return InputError(
        f"column {f.name!r} expects {want}, got {value!r} ({type(value).__name__})", f.name
    )


def _coerce_column(f: Feature, values: list[Any], np: Any) -> np.ndarray:
    dtype = f.dtype
    if dtype == "float64":
        types = set(map(type, values))  # one pass in C; the loop below only runs on odd input
        if types <= _NUMBER_TYPES:
            arr = np.array(values, dtype=np.float64)
            if np.isfinite(arr).all():
                return arr
        for v in values:
            t = type(v)
            if t is float:
                if not math.isfinite(v):
                    raise InputError(
                        f"column {f.name!r} got {v!r}; send finite numbers, and null for a "
                        "missing value",
                        f.name,
                    )
            elif t is not int and v is not None:
                raise _bad(f, v, "a number (or null when missing)")
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if dtype == "int64":
        if set(map(type, values)) - {int}:
            for v in values:
                if type(v) is not int:
                    raise _bad(f, v, "an integer")
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            raise InputError(
                f"column {f.name!r} has an integer out of the int64 range", f.name
            ) from None
    if dtype == "bool":
        for v in values:
            if type(v) is not bool:
                raise _bad(f, v, "true or false")
        return np.array(values, dtype=bool)
    if dtype in ("string", "category"):
        for v in values:
            if type(v) is not str and v is not None:
                raise _bad(f, v, "a string")
        if dtype == "category" and f.categories is not None:
            allowed = set(f.categories)
            for v in values:
                if v is not None and v not in allowed:
                    raise InputError(
                        f"column {f.name!r} got {v!r}, which is not one of its categories "
                        f"{list(f.categories)[:10]}",
                        f.name,
                    )
        return np.array(values, dtype=object)
    raise InputError(f"column {f.name!r} has an unknown dtype {dtype!r}", f.name)


def infer_signature(example: Any) -> Signature:
    """The signature of ``example``: a DataFrame, a dict of columns, or a 2-D array."""
    import numpy as np
    import pandas as pd

    if isinstance(example, dict):
        example = pd.DataFrame(example)
    if isinstance(example, pd.DataFrame):
        feats = []
        for name, col in example.items():
            if not isinstance(name, str):
                raise ValidationError(
                    f"example column {name!r} is not a string; name the columns "
                    "(frame.columns = [...]) so requests can refer to them"
                )
            feats.append(_feature_of(name, col.dtype, col))
        if not feats:
            raise ValidationError("the example has no columns; pass a few rows of real inputs")
        return Signature(tuple(feats), frame=True)
    arr = np.asarray(example)
    if arr.ndim != 2:
        raise ValidationError(
            f"an array example must be 2-D (rows x features), not of shape {arr.shape}"
        )
    dtype = _kind(arr.dtype)
    if dtype is None:
        raise ValidationError(
            f"example dtype {arr.dtype} is not supported; use numbers or a DataFrame"
        )
    return Signature(tuple(Feature(f"x{i}", dtype) for i in range(arr.shape[1])), frame=False)


def _kind(dtype: Any) -> str | None:
    kind = getattr(dtype, "kind", None)
    if kind == "f":
        return "float64"
    if kind in ("i", "u"):
        return "int64"
    if kind == "b":
        return "bool"
    if kind in ("O", "U", "S", "T"):
        return "string"
    return None


def _feature_of(name: str, dtype: Any, col: Any) -> Feature:
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        return Feature(name, "category", tuple(str(c) for c in dtype.categories))
    if pd.api.types.is_string_dtype(dtype):
        return Feature(name, "string")
    kind = _kind(dtype)
    if kind is None:
        raise ValidationError(
            f"example column {name!r} has dtype {dtype}, which a request cannot carry; "
            "use numbers, booleans, strings or categories"
        )
    return Feature(name, kind)
