"""A small labeling project on each store backend."""

from __future__ import annotations

import pandas as pd
import pytest

from loopml.datasets import create
from loopml.labeling import LabelingProject, create_project

CLASSES = ["cat", "dog", "bird"]


@pytest.fixture
def project(store: object) -> LabelingProject:
    """12 items, classes cat/dog/bird, overlap 2, guideline v1, annotators ann/bo/cy and reviewer rev."""
    frame = pd.DataFrame(
        {
            "id": [f"it{i}" for i in range(12)],
            "text": [f"<b>item</b> {i}" for i in range(12)],
            "truth": [CLASSES[i % 3] for i in range(12)],
        }
    )
    version = create("animals", frame, metadata=["truth"], store=store)
    p = create_project("animals-labels", version, CLASSES, overlap=2, store=store)
    p.publish_guidelines("# Animals\n\nLabel the animal.\n", note="first version")
    p.add_annotators(["ann", "bo", "cy"])
    p.add_annotators(["rev"], role="reviewer")
    return p
