"""The labeling store surface: one ``LabelingStore`` composed of a part per thing it holds.

``store.labeling.projects`` (projects and their items), ``.guidelines``, ``.annotators``,
``.queue``, ``.annotations`` and ``.reviews``. Every write is one transaction. The database
enforces the promises that matter under concurrency: an annotator labels an item at most once per
guideline version (a unique index), and a queue entry moves from pending to done at most once
(a conditional UPDATE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.store._labeling_annotations import AnnotationStore
from loopml.store._labeling_annotators import AnnotatorStore
from loopml.store._labeling_guidelines import GuidelineStore
from loopml.store._labeling_projects import LabelProjectStore
from loopml.store._labeling_queue import QueueStore
from loopml.store._labeling_reviews import ReviewStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["LabelingStore"]


class LabelingStore:
    """Everything a labeling project stores, one part per table group; ``store.labeling``.

    Thread-safe, like the parts: each call is its own transaction.
    """

    def __init__(self, engine: Engine) -> None:
        self.projects = LabelProjectStore(engine)
        self.guidelines = GuidelineStore(engine)
        self.annotators = AnnotatorStore(engine)
        self.queue = QueueStore(engine)
        self.annotations = AnnotationStore(engine)
        self.reviews = ReviewStore(engine)
