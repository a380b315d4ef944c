"""Initial schema: projects, runs, journals, params, tags, interned metric keys, points, summaries, artifacts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("heartbeat_at", sa.Float),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("git_dirty", sa.Boolean),
        sa.Column("command", sa.Text),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("environment", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("sweep_id", sa.String(32)),
    )
    op.create_index("ix_runs_project_created", "runs", ["project_id", "created_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_sweep", "runs", ["sweep_id"])
    op.create_table(
        "journals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_journals_run", "journals", ["run_id"])
    op.create_table(
        "params",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("num", sa.Float),
    )
    op.create_index("ix_params_key_value", "params", ["key", "num"])
    op.create_table(
        "tags",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "metric_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False, unique=True),
    )
    op.create_table(
        "metrics",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("metric_keys.id"), primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("flag", sa.SmallInteger, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "metric_buckets",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("metric_keys.id"), primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("lo_step", sa.BigInteger),
        sa.Column("lo_value", sa.Float),
        sa.Column("lo_ts", sa.Float),
        sa.Column("hi_step", sa.BigInteger),
        sa.Column("hi_value", sa.Float),
        sa.Column("hi_ts", sa.Float),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "metric_summary",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("metric_keys.id"), primary_key=True),
        sa.Column("last", sa.Float),
        sa.Column("last_flag", sa.SmallInteger, nullable=False),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.Column("min", sa.Float),
        sa.Column("max", sa.Float),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_summary_key_last", "metric_summary", ["key_id", "last"])
    op.create_table(
        "artifacts",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("name", sa.String(500), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "artifacts",
        "metric_summary",
        "metric_buckets",
        "metrics",
        "metric_keys",
        "tags",
        "params",
        "journals",
        "runs",
        "projects",
    ):
        op.drop_table(table)
