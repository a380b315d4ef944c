"""The metadata store: the only code that speaks SQL or touches the data folder."""

from loopml.store._dataset_rows import ItemReader
from loopml.store._dataset_version import DatasetVersion
from loopml.store._datasets import DatasetStore, DatasetUse
from loopml.store._engine import make_engine, normalize_url
from loopml.store._ingest import OffsetMismatch
from loopml.store._labeling import LabelingStore
from loopml.store._labeling_annotations import AnnotationRecord, AnnotationStore, FlagRecord
from loopml.store._labeling_annotators import AnnotatorRecord, AnnotatorStats, AnnotatorStore
from loopml.store._labeling_guidelines import GuidelineRecord, GuidelineStore
from loopml.store._labeling_projects import (
    LabelProjectRecord,
    LabelProjectStore,
    LabelProjectSummary,
)
from loopml.store._labeling_queue import QueueCounts, QueueEntry, QueueStore
from loopml.store._labeling_reviews import NewReview, ReviewRecord, ReviewStore
from loopml.store._query import parse_filter, parse_order_by
from loopml.store._records import (
    RUN_STATUSES,
    ArtifactRecord,
    Batch,
    MetricSummary,
    ProjectInfo,
    RunRecord,
)
from loopml.store._store import Store

__all__ = [
    "RUN_STATUSES",
    "AnnotationRecord",
    "AnnotationStore",
    "AnnotatorRecord",
    "AnnotatorStats",
    "AnnotatorStore",
    "ArtifactRecord",
    "Batch",
    "DatasetStore",
    "DatasetUse",
    "DatasetVersion",
    "FlagRecord",
    "GuidelineRecord",
    "GuidelineStore",
    "ItemReader",
    "LabelProjectRecord",
    "LabelProjectStore",
    "LabelProjectSummary",
    "LabelingStore",
    "MetricSummary",
    "NewReview",
    "OffsetMismatch",
    "ProjectInfo",
    "QueueCounts",
    "QueueEntry",
    "QueueStore",
    "ReviewRecord",
    "ReviewStore",
    "RunRecord",
    "Store",
    "make_engine",
    "normalize_url",
    "parse_filter",
    "parse_order_by",
]
