"""The metadata store: the only code that speaks SQL or touches the data folder.

``Store`` opens a store; each capability has one typed surface on it (``store.runs``,
``store.sweeps``, ...) returning frozen records. ``RunBackend`` is the contract the tracking
client writes through; ``RunStore`` is its SQL implementation.
"""

from loopml._errors import OffsetMismatch
from loopml.store._backend import RunBackend
from loopml.store._engine import make_engine, normalize_url
from loopml.store._evaluations import (
    EvalMetric,
    EvalTagRecord,
    EvaluationRecord,
    EvaluationRows,
    EvaluationStore,
    GroupKey,
    LabelRequestRecord,
)
from loopml.store._query import parse_filter, parse_order_by
from loopml.store._records import (
    RUN_STATUSES,
    ArtifactRecord,
    Batch,
    MetricSummary,
    ProjectInfo,
    RunRecord,
)
from loopml.store._runs import ColumnChoices, RunsPage, RunStore
from loopml.store._series import MAX_SERIES_POINTS, Series
from loopml.store._store import Store
from loopml.store._sweeps import (
    SweepInfo,
    SweepRecord,
    SweepStore,
    SweepSummary,
    TrialRow,
    TrialWrite,
)

__all__ = [
    "MAX_SERIES_POINTS",
    "RUN_STATUSES",
    "ArtifactRecord",
    "Batch",
    "ColumnChoices",
    "EvalMetric",
    "EvalTagRecord",
    "EvaluationRecord",
    "EvaluationRows",
    "EvaluationStore",
    "GroupKey",
    "LabelRequestRecord",
    "MetricSummary",
    "OffsetMismatch",
    "ProjectInfo",
    "RunBackend",
    "RunRecord",
    "RunStore",
    "RunsPage",
    "Series",
    "Store",
    "SweepInfo",
    "SweepRecord",
    "SweepStore",
    "SweepSummary",
    "TrialRow",
    "TrialWrite",
    "make_engine",
    "normalize_url",
    "parse_filter",
    "parse_order_by",
]
