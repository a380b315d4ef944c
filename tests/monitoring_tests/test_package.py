"""The monitoring package's public surface, and that importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import loopml.monitoring as mon


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in vars(mon) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(mon, n)).__name__ == "module"}
    assert public - modules == set(mon.__all__)
    for name in mon.__all__:
        assert getattr(mon, name).__doc__, f"{name} needs a docstring"


def test_import_is_lazy() -> None:
    code = (
        "import sys, loopml.monitoring, loopml;"
        "heavy = [m for m in ('pandas', 'duckdb', 'scipy', 'pyarrow', 'sklearn', 'ray')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    import loopml

    assert loopml.monitoring is mon  # reachable as an attribute, imported on first use


def test_every_registered_metric_is_documented() -> None:
    for kind, cls in mon.metric_classes().items():
        assert cls.kind == kind and cls.__doc__ and cls.group
