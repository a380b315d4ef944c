"""The metadata store: the only code that speaks SQL or touches the data folder.

``Store`` opens a store; each capability has one typed surface on it (``store.runs``,
``store.sweeps``, ...) returning frozen records. ``RunBackend`` is the contract the tracking
client writes through; ``RunStore`` is its SQL implementation.
"""

from loopml._errors import OffsetMismatch
from loopml.store._artifacts import check_artifact_name
from loopml.store._backend import RunBackend
from loopml.store._engine import make_engine, normalize_url
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
from loopml.store._users import ROLES, AuditEntry, TokenInfo, UserRecord, UserStore
from loopml.store._wire import (
    artifact_from_wire,
    artifact_to_wire,
    batch_from_wire,
    batch_to_wire,
    record_from_wire,
    record_to_wire,
)

__all__ = [
    "MAX_SERIES_POINTS",
    "ROLES",
    "RUN_STATUSES",
    "ArtifactRecord",
    "AuditEntry",
    "Batch",
    "ColumnChoices",
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
    "TokenInfo",
    "TrialRow",
    "TrialWrite",
    "UserRecord",
    "UserStore",
    "artifact_from_wire",
    "artifact_to_wire",
    "batch_from_wire",
    "batch_to_wire",
    "check_artifact_name",
    "make_engine",
    "normalize_url",
    "parse_filter",
    "parse_order_by",
    "record_from_wire",
    "record_to_wire",
]
