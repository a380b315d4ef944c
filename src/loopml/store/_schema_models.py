"""Tables of the model registry: models, their immutable versions, aliases and the alias audit log.

Model files live under ``store.data_dir / "models"`` (named by their SHA-256); these tables hold
what points at them. The prediction log is Parquet (``store/_predictions.py``), not tables.
"""

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from loopml.store._metadata import metadata

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

# A version never changes once written: its file is content-addressed and its row is only read.
model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("flavor", String(16), nullable=False),  # sklearn (skops), onnx, python (cloudpickle)
    Column("file", String(300), nullable=False),  # relative to the data folder
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("task", String(16), nullable=False),  # classifier, regressor
    Column("signature", Text),  # JSON: the input columns (name, dtype, categories, shape)
    Column("classes", Text),  # JSON list of class labels (classifiers)
    Column("trusted_types", Text, nullable=False),  # JSON list, vouched for at registration
    Column("run_id", String(32)),  # the run that made it (lineage); kept if the run is deleted
    Column("description", Text),
    Column("created_by", String(100)),
    Column("created_at", Float, nullable=False),
    Index("ix_model_versions_number", "model_id", "version", unique=True),
    Index("ix_model_versions_run", "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Who moved which alias, when and why: one row per move, never updated.
model_alias_events = Table(
    "model_alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer),
    Column("to_version", Integer),  # null: the alias was removed
    Column("reason", Text),
    Column("user", String(100)),
    Column("time", Float, nullable=False),
    Index("ix_model_alias_events_model", "model_id", "time"),
)
