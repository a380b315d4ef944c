"""Tables of runs: projects, runs, journals, params, tags, metric points, summaries, artifacts."""

from __future__ import annotations

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

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("heartbeat_at", Float),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("command", Text),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("environment", Text),  # JSON: python, platform, key package versions
    Column("error", Text),  # traceback of a failed run
    Column("sweep_id", String(32)),
    Index("ix_runs_project_created", "project_id", "created_at"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_sweep", "sweep_id"),
)

# How far each journal file has been ingested, advanced in the same transaction as the rows it
# adds, so a journal replayed twice (by its writer and by a recovery) lands once. A run may have
# several journals (one per process that logs to it); a row goes when its journal is done.
journals = Table(
    "journals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_journals_run", "run_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    # The same value as a number when it is one, so ``params.lr > 0.01`` compares numerically.
    Column("num", Float),
    Index("ix_params_key_value", "key", "num"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

metric_keys = Table(
    "metric_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
)

# ``flag`` keeps what a REAL column cannot: SQLite stores NaN as NULL and -0.0 as 0.
FLAG_NONE, FLAG_NAN, FLAG_NEG_ZERO = 0, 1, 2

# No foreign keys on the points (migration 0012): checked row by row they cost PostgreSQL more
# than the rest of an insert. Ingest locks each run it writes once per batch instead
# (``_ingest.write_content``) and ``RunStore.delete`` deletes a run's points itself.
metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("key_id", Integer, primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("value", Float),
    Column("flag", SmallInteger, nullable=False, default=0),
    Column("ts", Float, nullable=False),
    # Clustered by (run, key, step) on SQLite: a series is one contiguous range of the table,
    # so reading or downsampling it needs no lookup from an index into the table.
    sqlite_with_rowid=False,
)

# Per (run, key), the extremes of each block of BUCKET_STEPS steps, kept up to date on ingest:
# a chart of a long series is drawn from these rows instead of a scan of every point.
BUCKET_STEPS = 256

metric_buckets = Table(
    "metric_buckets",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key_id", Integer, ForeignKey("metric_keys.id"), primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("lo_step", BigInteger),
    Column("lo_value", Float),
    Column("lo_ts", Float),
    Column("hi_step", BigInteger),
    Column("hi_value", Float),
    Column("hi_ts", Float),
    sqlite_with_rowid=False,
)

metric_summary = Table(
    "metric_summary",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key_id", Integer, ForeignKey("metric_keys.id"), primary_key=True),
    Column("last", Float),
    Column("last_flag", SmallInteger, nullable=False, default=0),
    Column("last_step", BigInteger, nullable=False),
    Column("min", Float),
    Column("max", Float),
    Column("count", BigInteger, nullable=False),
    Index("ix_summary_key_last", "key_id", "last"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(500), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)
