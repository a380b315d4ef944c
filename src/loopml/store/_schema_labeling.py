"""Tables of the datasets and labeling capabilities (registered on the shared ``metadata``).

Item rows live in Parquet files (``store.data_dir / "datasets"``); these tables hold what is small
or written one row at a time: dataset versions, lineage, guidelines, assignments, annotations and
the review queue. Annotations refer to items by a dense per-project index (``item_idx``) so the
agreement statistics read three integers per annotation.
"""

# No ``from __future__ import annotations`` here: it would shadow the ``annotations`` table.
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
)

from loopml.store._metadata import metadata

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

# A version is named by the SHA-256 of its content; ``number`` counts versions per dataset.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("n_items", BigInteger, nullable=False),
    Column("columns", Text, nullable=False),  # JSON: id, inputs, metadata, label, types
    Column("splits", Text, nullable=False),  # JSON: split name -> item count
    Column("parent", String(64)),
    Column("note", Text),
    Column("source", Text),  # JSON: where the version came from (a file, a label snapshot...)
    Column("created_at", Float, nullable=False),
    Index("ix_dataset_versions_number", "dataset_id", "number", unique=True),
)

# Lineage: which runs read which dataset versions.
dataset_usage = Table(
    "dataset_usage",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(64), ForeignKey("dataset_versions.digest"), primary_key=True),
    Column("created_at", Float, nullable=False),
    Index("ix_dataset_usage_digest", "digest"),
)

label_projects = Table(
    "label_projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("dataset", String(64), ForeignKey("dataset_versions.digest"), nullable=False),
    Column("classes", Text, nullable=False),  # JSON list, in index order
    Column("multi_label", Boolean, nullable=False),
    Column("overlap", Integer, nullable=False),
    Column("show_others", Boolean, nullable=False),
    Column("min_agreement", Float, nullable=False),
    Column("created_at", Float, nullable=False),
)

label_items = Table(
    "label_items",
    metadata,
    Column(
        "project_id", Integer, ForeignKey("label_projects.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("idx", Integer, primary_key=True),
    Column("item_id", String(500), nullable=False),
    Index("ix_label_items_item", "project_id", "item_id", unique=True),
)

guidelines = Table(
    "guidelines",
    metadata,
    Column(
        "project_id", Integer, ForeignKey("label_projects.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("version", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("affects", Text, nullable=False),  # JSON list of class names
    Column("author", String(200)),
    Column("created_at", Float, nullable=False),
)

annotators = Table(
    "annotators",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "project_id", Integer, ForeignKey("label_projects.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_annotators_name", "project_id", "name", unique=True),
)

# One row per (annotator, item, round): the annotator's queue. ``round`` is the guideline version
# the item was queued under, so a relabel after v2 is a new row and the v1 row stays done.
# status: 0 pending, 1 done, 2 skipped.
assignments = Table(
    "assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "project_id", Integer, ForeignKey("label_projects.id", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "annotator_id", Integer, ForeignKey("annotators.id", ondelete="CASCADE"), nullable=False
    ),
    Column("item_idx", Integer, nullable=False),
    Column("round", Integer, nullable=False),
    Column("batch", Integer, nullable=False),
    Column("reason", String(16), nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float),  # when it was last done or skipped (for undo)
    Index("ix_assignments_queue", "project_id", "annotator_id", "status", "id"),
    Index("ix_assignments_unique", "project_id", "annotator_id", "item_idx", "round", unique=True),
)

# Append-only; ``label`` is a class index, or a bit mask of classes for a multi-label schema
# (NULL for a flag without a label). kind: 0 an annotator's label, 1 a reviewer's decision.
annotations = Table(
    "annotations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "project_id", Integer, ForeignKey("label_projects.id", ondelete="CASCADE"), nullable=False
    ),
    Column("item_idx", Integer, nullable=False),
    Column(
        "annotator_id", Integer, ForeignKey("annotators.id", ondelete="CASCADE"), nullable=False
    ),
    Column("label", BigInteger),
    Column("guideline_version", Integer, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("seconds", Float),
    Column("flag", Boolean, nullable=False),
    Column("comment", Text),
    Column("assignment_id", Integer),
    Column("created_at", Float, nullable=False),
    # Covering index for the agreement statistics (one range scan per guideline version).
    Index(
        "ix_annotations_stats",
        "project_id",
        "kind",
        "guideline_version",
        "item_idx",
        "annotator_id",
        "label",
    ),
    # The database itself refuses a second label by one annotator for one item under one version.
    Index(
        "ix_annotations_unique",
        "project_id",
        "item_idx",
        "annotator_id",
        "guideline_version",
        "kind",
        unique=True,
    ),
    Index("ix_annotations_annotator", "project_id", "annotator_id", "id"),
)

# The review queue: ties, low agreement and suspected label errors, with the reason recorded.
# status: 0 open, 1 resolved, 2 dismissed.
reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "project_id", Integer, ForeignKey("label_projects.id", ondelete="CASCADE"), nullable=False
    ),
    Column("item_idx", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: the reason, given and suggested labels
    Column("status", SmallInteger, nullable=False),
    Column("resolution", BigInteger),
    Column("resolved_by", String(200)),
    Column("created_at", Float, nullable=False),
    Column("resolved_at", Float),
    Index("ix_reviews_queue", "project_id", "kind", "status", "score"),
)
