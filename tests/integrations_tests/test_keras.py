"""The Keras callback's tests (``keras_cases.py``), run in a pytest process of their own.

JAX starts threads when it is imported; forking a process that has them (the sweep tests fork
their workers) can deadlock. So JAX never loads into the main test process.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).with_name("keras_cases.py")


@pytest.mark.slow
def test_keras_cases_in_their_own_process() -> None:
    for module in ("keras", "jax"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the Keras integration tests need {module} (pip install -e '.[test]')")
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CASES)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    passed = re.search(r"(\d+) passed", p.stdout)
    assert passed and int(passed.group(1)) >= 6 and not re.search(r"\d+ failed", p.stdout)
