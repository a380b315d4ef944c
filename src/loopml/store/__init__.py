"""The metadata store: the only code that speaks SQL or touches the data folder."""

from loopml.store._engine import make_engine, normalize_url
from loopml.store._ingest import OffsetMismatch
from loopml.store._monitors import (
    AlertDraft,
    AlertRecord,
    CatalogVersion,
    IncidentRecord,
    MetricDef,
    MonitorRecord,
    MonitorStore,
)
from loopml.store._prediction_reader import Aggregate, PredictionLogReader, SchemaChange
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
    "Aggregate",
    "AlertDraft",
    "AlertRecord",
    "ArtifactRecord",
    "Batch",
    "CatalogVersion",
    "IncidentRecord",
    "MetricDef",
    "MetricSummary",
    "MonitorRecord",
    "MonitorStore",
    "OffsetMismatch",
    "PredictionLogReader",
    "ProjectInfo",
    "RunRecord",
    "SchemaChange",
    "Store",
    "make_engine",
    "normalize_url",
    "parse_filter",
    "parse_order_by",
]
