"""Tables of the evaluations capability (error analysis), on the shared ``metadata``.

An evaluation's per-example rows (id, truth, prediction, probabilities, loss, correct and the
dataset's scalar columns) are one Parquet file under the data folder; these tables hold what
links it to the rest of the loop: the dataset version, the run, the model version (a hook for
the registry), its metrics, its error tags, and the labeling requests made from it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from loopml.store._metadata import metadata

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("dataset_digest", String(64), ForeignKey("dataset_versions.digest"), nullable=False),
    Column("split", String(200)),
    Column("task", String(16), nullable=False),  # classification, regression
    Column("classes", Text, nullable=False),  # JSON list (empty for regression)
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL")),
    Column("model_version", String(250)),  # the registry's model version id, once it exists
    Column("n_rows", BigInteger, nullable=False),
    Column("metrics", Text, nullable=False),  # JSON: name -> {value, low, high}
    Column("columns", Text, nullable=False),  # JSON: sliceable column -> type
    Column("file", String(300), nullable=False),  # Parquet path relative to the data folder
    Column("created_at", Float, nullable=False),
    Index("ix_evaluations_dataset", "dataset_digest", "created_at"),
    Index("ix_evaluations_run", "run_id"),
)

# Error tags: by hand, by rule (a predicate) or automatic; a tag holds many examples and an
# example many tags.
eval_tags = Table(
    "eval_tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "evaluation_id",
        String(32),
        ForeignKey("evaluations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # hand, rule, auto
    Column("rule", Text),  # the predicate of a rule tag, or what an automatic tag ran
    Column("created_at", Float, nullable=False),
    UniqueConstraint("evaluation_id", "name", name="uq_eval_tags_name"),
)

eval_tag_items = Table(
    "eval_tag_items",
    metadata,
    Column("tag_id", Integer, ForeignKey("eval_tags.id", ondelete="CASCADE"), primary_key=True),
    Column("item_id", String(200), primary_key=True),
    Column("created_at", Float, nullable=False),  # the newest hand tagging is what `u` undoes
    # Put there by a person (the tagging page, a list of ids), whatever the tag's kind: kept
    # when a rule or automatic tag is recomputed.
    Column("by_hand", Boolean, nullable=False, server_default=false()),
    Index("ix_eval_tag_items_item", "item_id"),
)

# "Send to labeling": which items an analysis queued, in which labeling project and batch, why.
eval_label_requests = Table(
    "eval_label_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "evaluation_id",
        String(32),
        ForeignKey("evaluations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("project", String(200), nullable=False),
    Column("batch", Integer, nullable=False),
    Column("group_kind", String(16), nullable=False),  # tag, slice, cell, label_issues, items
    Column("group_name", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("item_ids", Text, nullable=False),  # JSON list
    Column("created_at", Float, nullable=False),
    Index("ix_eval_label_requests_eval", "evaluation_id"),
)
