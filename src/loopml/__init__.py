"""loopml: high-throughput iteration for machine learning.

``import loopml`` is cheap: the store, pandas and the rest load when first used.

    import loopml
    with loopml.init(project="digits", config={"lr": 0.1}) as run:
        for epoch in range(10):
            run.log({"loss": 1 / (epoch + 1)})
    loopml.runs("digits", where="metrics.loss < 0.2", order_by="-metrics.loss")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loopml._errors import (
    ConflictError,
    InvalidValueTypeError,
    LoopmlError,
    MissingDependencyError,
    NotFoundError,
    QueryError,
    SchemaVersionError,
    StoreError,
    UnsafeModelError,
    UnsupportedVersionError,
    ValidationError,
)
from loopml._version import __version__

# Public name -> module that defines it; loaded on first access (PEP 562).
_LAZY = {
    "init": "loopml.tracking",
    "log": "loopml.tracking",
    "finish": "loopml.tracking",
    "runs": "loopml.tracking",
    "get_run": "loopml.tracking",
    "active_run": "loopml.tracking",
    "recover": "loopml.tracking",
    "Run": "loopml.tracking",
    "Image": "loopml.tracking",
    "Histogram": "loopml.tracking",
    "Table": "loopml.tracking",
    "RunRecord": "loopml.store",
    "Store": "loopml.store",
    "Settings": "loopml._config",
    "sweep": "loopml.sweeps",
    "resume_sweep": "loopml.sweeps",
    "load_sweep": "loopml.sweeps",
    "Sweep": "loopml.sweeps",
    "uniform": "loopml.sweeps",
    "loguniform": "loopml.sweeps",
    "intrange": "loopml.sweeps",
    "choice": "loopml.sweeps",
    "evaluate": "loopml.analysis",
}

__all__ = [
    "ConflictError",
    "Histogram",
    "Image",
    "InvalidValueTypeError",
    "LoopmlError",
    "MissingDependencyError",
    "NotFoundError",
    "QueryError",
    "Run",
    "RunRecord",
    "SchemaVersionError",
    "Settings",
    "Store",
    "StoreError",
    "Sweep",
    "Table",
    "UnsafeModelError",
    "UnsupportedVersionError",
    "ValidationError",
    "__version__",
    "active_run",
    "choice",
    "evaluate",
    "finish",
    "get_run",
    "init",
    "intrange",
    "load_sweep",
    "log",
    "loguniform",
    "recover",
    "resume_sweep",
    "runs",
    "sweep",
    "uniform",
]

if TYPE_CHECKING:
    from loopml._config import Settings
    from loopml.analysis import evaluate
    from loopml.store import RunRecord, Store
    from loopml.sweeps import (
        Sweep,
        choice,
        intrange,
        load_sweep,
        loguniform,
        resume_sweep,
        sweep,
        uniform,
    )
    from loopml.tracking import (
        Histogram,
        Image,
        Run,
        Table,
        active_run,
        finish,
        get_run,
        init,
        log,
        recover,
        runs,
    )


# Subpackages reachable as attributes (``loopml.datasets.create(...)``), imported on first use.
_SUBMODULES: set[str] = {
    "analysis",
    "datasets",
    "labeling",
    "monitoring",
    "registry",
    "serving",
    "sweeps",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"loopml.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
