"""The package surface: cheap import, curated public names, typed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import loopml

HEAVY = [
    "pandas",
    "pyarrow",
    "sqlalchemy",
    "duckdb",
    "sklearn",
    "optuna",
    "ray",
    "fastapi",
    "numpy",
    "alembic",
]


def test_import_loopml_imports_nothing_heavy() -> None:
    code = f"import sys, loopml; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_all_lists_exactly_the_public_names() -> None:
    for name in loopml.__all__:
        assert getattr(loopml, name) is not None, name
    public = {n for n in dir(loopml) if not n.startswith("_")}
    assert public == set(loopml.__all__) - {"__version__"}


def test_unknown_attribute_is_an_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = loopml.nope  # type: ignore[attr-defined]


def test_errors_share_one_root() -> None:
    for name in loopml.__all__:
        obj = getattr(loopml, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, loopml.LoopmlError)


def test_ships_py_typed() -> None:
    assert (Path(loopml.__file__).parent / "py.typed").exists()


def test_subpackages_export_what_all_says() -> None:
    import importlib

    for sub in ("loopml.store", "loopml.tracking", "loopml.serving"):
        module = importlib.import_module(sub)
        for name in module.__all__:
            assert hasattr(module, name), f"{sub}.{name}"
