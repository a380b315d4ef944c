"""Every ``python`` example in docs/integrations.md runs as printed (when its framework is here)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
FRAMEWORKS = ("sklearn", "lightgbm", "xgboost", "keras", "lightning", "torch", "transformers")
READERS = ("tensorboard", "tensorboardX")  # the TensorBoard import's example writes and reads


def _needs(code: str) -> list[str]:
    imported = set(re.findall(r"^\s*(?:import|from) (\w+)", code, re.M))
    return [f for f in FRAMEWORKS + READERS if f in imported or f"integrations.{f}" in code]


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index: int, tmp_path: Path) -> None:
    code = BLOCKS[index]
    missing = [f for f in _needs(code) if importlib.util.find_spec(f) is None]
    if missing:
        pytest.skip(f"example {index} needs {', '.join(missing)} (make test-integrations)")
    script = tmp_path / f"example_{index}.py"
    script.write_text(code)
    p = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert p.returncode == 0, p.stderr[-3000:]


def test_the_page_has_examples_for_every_integration() -> None:
    text = "\n".join(BLOCKS)
    for name in FRAMEWORKS:
        assert f"integrations.{name}" in text or name in ("torch", "sklearn"), name
    assert "loopml_sklearn.autolog" in text
