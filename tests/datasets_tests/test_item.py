"""``DatasetVersion.item``: one item by id, through the store surface."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from loopml import NotFoundError, ValidationError
from loopml.datasets import create


def test_item_by_id(store: Any) -> None:
    frame = pd.DataFrame(
        {
            "id": [f"t{i}" for i in range(300)],
            "label": ["a", "b", "c"] * 100,
            "text": [f"text number {i}" for i in range(300)],
            "source": ["web", "scan"] * 150,
        }
    )
    v = create("texts", frame, metadata=["source"], store=store)
    got = v.item("t17")
    assert got["text"] == "text number 17" and got["label"] == "c" and got["source"] == "scan"
    assert set(got) == set(v.to_arrow().column_names)
    assert v.item("t2", columns=["text"]) == {"id": "t2", "text": "text number 2"}


def test_item_bad_input(store: Any) -> None:
    v = create("tiny", pd.DataFrame({"id": ["a", "b"], "label": [1, 2]}), store=store)
    with pytest.raises(NotFoundError, match=r"tiny@1 has no item 'zz'"):
        v.item("zz")
    with pytest.raises(ValidationError, match="an item id is a string"):
        v.item(None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"has no columns \['nope'\]"):
        v.item("a", columns=["nope"])
