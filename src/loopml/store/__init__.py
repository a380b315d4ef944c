"""The metadata store: the only code that speaks SQL or touches the data folder.

``Store`` opens a store; each capability has one typed surface on it (``store.runs``,
``store.sweeps``, ...) returning frozen records. ``RunBackend`` is the contract the tracking
client writes through; ``RunStore`` is its SQL implementation.
"""

from typing import TYPE_CHECKING

from loopml._errors import OffsetMismatch
from loopml._lazy import lazy_exports

# Public name -> the module that defines it, imported on first access (PEP 562): importing
# the package stays cheap (no SQLAlchemy, pandas or Optuna until a name that needs them is used).
_EXPORTS = {
    "loopml.store._artifacts": ("check_artifact_name",),
    "loopml.store._backend": ("RunBackend",),
    "loopml.store._dataset_rows": ("ItemReader",),
    "loopml.store._dataset_version": ("DatasetVersion",),
    "loopml.store._datasets": (
        "DatasetStore",
        "DatasetUse",
    ),
    "loopml.store._engine": (
        "make_engine",
        "normalize_url",
    ),
    "loopml.store._evaluations": (
        "EvalMetric",
        "EvalTagRecord",
        "EvaluationRecord",
        "EvaluationRows",
        "EvaluationStore",
        "GroupKey",
        "LabelRequestRecord",
    ),
    "loopml.store._labeling": ("LabelingStore",),
    "loopml.store._labeling_annotations": (
        "AnnotationRecord",
        "AnnotationStore",
        "FlagRecord",
    ),
    "loopml.store._labeling_annotators": (
        "AnnotatorRecord",
        "AnnotatorStats",
        "AnnotatorStore",
    ),
    "loopml.store._labeling_guidelines": (
        "GuidelineRecord",
        "GuidelineStore",
    ),
    "loopml.store._labeling_projects": (
        "LabelProjectRecord",
        "LabelProjectStore",
        "LabelProjectSummary",
    ),
    "loopml.store._labeling_queue": (
        "QueueCounts",
        "QueueEntry",
        "QueueStore",
    ),
    "loopml.store._labeling_reviews": (
        "NewReview",
        "ReviewRecord",
        "ReviewStore",
    ),
    "loopml.store._model_names": (
        "check_alias",
        "check_model_name",
    ),
    "loopml.store._model_lookup": (
        "ModelVersionRecord",
        "find_model_version",
    ),
    "loopml.store._models": (
        "AliasEvent",
        "ModelRecord",
        "ModelStore",
    ),
    "loopml.store._monitors": (
        "AlertDraft",
        "AlertRecord",
        "CatalogVersion",
        "IncidentRecord",
        "MetricDef",
        "MonitorRecord",
        "MonitorStore",
    ),
    "loopml.store._prediction_compact": ("CompactionResult",),
    "loopml.store._prediction_files": ("ServiceLock",),
    "loopml.store._prediction_windows": ("Aggregate",),
    "loopml.store._predictions": (
        "PredictionStore",
        "SchemaChange",
    ),
    "loopml.store._sweep_journal": ("SweepJournal",),
    "loopml.store._query": (
        "parse_filter",
        "parse_order_by",
    ),
    "loopml.store._records": (
        "RUN_STATUSES",
        "ArtifactRecord",
        "Batch",
        "MetricSummary",
        "PackedPoints",
        "ProjectInfo",
        "RunRecord",
    ),
    "loopml.store._runs": (
        "ColumnChoices",
        "RunsPage",
        "RunStore",
    ),
    "loopml.store._series": (
        "MAX_SERIES_POINTS",
        "Series",
    ),
    "loopml.store._store": ("Store",),
    "loopml.store._sweep_records": (
        "SweepInfo",
        "SweepRecord",
        "SweepSummary",
        "TrialRow",
        "TrialWrite",
    ),
    "loopml.store._sweeps": ("SweepStore",),
    "loopml.store._users": (
        "ROLES",
        "AuditEntry",
        "TokenInfo",
        "UserRecord",
        "UserStore",
    ),
    "loopml.store._wire": (
        "artifact_from_wire",
        "artifact_to_wire",
        "batch_from_wire",
        "batch_to_wire",
        "record_from_wire",
        "record_to_wire",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.store._artifacts import (
        check_artifact_name,
    )
    from loopml.store._backend import (
        RunBackend,
    )
    from loopml.store._dataset_rows import (
        ItemReader,
    )
    from loopml.store._dataset_version import (
        DatasetVersion,
    )
    from loopml.store._datasets import (
        DatasetStore,
        DatasetUse,
    )
    from loopml.store._engine import (
        make_engine,
        normalize_url,
    )
    from loopml.store._evaluations import (
        EvalMetric,
        EvalTagRecord,
        EvaluationRecord,
        EvaluationRows,
        EvaluationStore,
        GroupKey,
        LabelRequestRecord,
    )
    from loopml.store._labeling import (
        LabelingStore,
    )
    from loopml.store._labeling_annotations import (
        AnnotationRecord,
        AnnotationStore,
        FlagRecord,
    )
    from loopml.store._labeling_annotators import (
        AnnotatorRecord,
        AnnotatorStats,
        AnnotatorStore,
    )
    from loopml.store._labeling_guidelines import (
        GuidelineRecord,
        GuidelineStore,
    )
    from loopml.store._labeling_projects import (
        LabelProjectRecord,
        LabelProjectStore,
        LabelProjectSummary,
    )
    from loopml.store._labeling_queue import (
        QueueCounts,
        QueueEntry,
        QueueStore,
    )
    from loopml.store._labeling_reviews import (
        NewReview,
        ReviewRecord,
        ReviewStore,
    )
    from loopml.store._model_lookup import ModelVersionRecord, find_model_version
    from loopml.store._model_names import check_alias, check_model_name
    from loopml.store._models import (
        AliasEvent,
        ModelRecord,
        ModelStore,
    )
    from loopml.store._monitors import (
        AlertDraft,
        AlertRecord,
        CatalogVersion,
        IncidentRecord,
        MetricDef,
        MonitorRecord,
        MonitorStore,
    )
    from loopml.store._prediction_compact import (
        CompactionResult,
    )
    from loopml.store._prediction_files import (
        ServiceLock,
    )
    from loopml.store._prediction_windows import (
        Aggregate,
    )
    from loopml.store._predictions import (
        PredictionStore,
        SchemaChange,
    )
    from loopml.store._query import (
        parse_filter,
        parse_order_by,
    )
    from loopml.store._records import (
        RUN_STATUSES,
        ArtifactRecord,
        Batch,
        MetricSummary,
        PackedPoints,
        ProjectInfo,
        RunRecord,
    )
    from loopml.store._runs import (
        ColumnChoices,
        RunsPage,
        RunStore,
    )
    from loopml.store._series import (
        MAX_SERIES_POINTS,
        Series,
    )
    from loopml.store._store import (
        Store,
    )
    from loopml.store._sweep_journal import (
        SweepJournal,
    )
    from loopml.store._sweep_records import (
        SweepInfo,
        SweepRecord,
        SweepSummary,
        TrialRow,
        TrialWrite,
    )
    from loopml.store._sweeps import (
        SweepStore,
    )
    from loopml.store._users import (
        ROLES,
        AuditEntry,
        TokenInfo,
        UserRecord,
        UserStore,
    )
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
    "Aggregate",
    "AlertDraft",
    "AlertRecord",
    "AliasEvent",
    "AnnotationRecord",
    "AnnotationStore",
    "AnnotatorRecord",
    "AnnotatorStats",
    "AnnotatorStore",
    "ArtifactRecord",
    "AuditEntry",
    "Batch",
    "CatalogVersion",
    "ColumnChoices",
    "CompactionResult",
    "DatasetStore",
    "DatasetUse",
    "DatasetVersion",
    "EvalMetric",
    "EvalTagRecord",
    "EvaluationRecord",
    "EvaluationRows",
    "EvaluationStore",
    "FlagRecord",
    "GroupKey",
    "GuidelineRecord",
    "GuidelineStore",
    "IncidentRecord",
    "ItemReader",
    "LabelProjectRecord",
    "LabelProjectStore",
    "LabelProjectSummary",
    "LabelRequestRecord",
    "LabelingStore",
    "MetricDef",
    "MetricSummary",
    "ModelRecord",
    "ModelStore",
    "ModelVersionRecord",
    "MonitorRecord",
    "MonitorStore",
    "NewReview",
    "OffsetMismatch",
    "PackedPoints",
    "PredictionStore",
    "ProjectInfo",
    "QueueCounts",
    "QueueEntry",
    "QueueStore",
    "ReviewRecord",
    "ReviewStore",
    "RunBackend",
    "RunRecord",
    "RunStore",
    "RunsPage",
    "SchemaChange",
    "Series",
    "ServiceLock",
    "Store",
    "SweepInfo",
    "SweepJournal",
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
    "check_alias",
    "check_artifact_name",
    "check_model_name",
    "find_model_version",
    "make_engine",
    "normalize_url",
    "parse_filter",
    "parse_order_by",
    "record_from_wire",
    "record_to_wire",
]
