"""The metadata store: the only code that speaks SQL or touches the data folder."""

from loopml.store._engine import make_engine, normalize_url
from loopml.store._ingest import OffsetMismatch
from loopml.store._models import (
    AliasEvent,
    ModelRecord,
    ModelStore,
    ModelVersionRecord,
    check_alias,
    check_model_name,
)
from loopml.store._predictions import PredictionStore
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
    "AliasEvent",
    "ArtifactRecord",
    "Batch",
    "MetricSummary",
    "ModelRecord",
    "ModelStore",
    "ModelVersionRecord",
    "OffsetMismatch",
    "PredictionStore",
    "ProjectInfo",
    "RunRecord",
    "Store",
    "check_alias",
    "check_model_name",
    "make_engine",
    "normalize_url",
    "parse_filter",
    "parse_order_by",
]
