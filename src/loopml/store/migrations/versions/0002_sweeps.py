"""Tables for sweeps: sweeps and their trials (each trial is also an ordinary run).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(250), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("objective", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
    )
    op.create_index("ix_sweeps_project_created", "sweeps", ["project_id", "created_at"])
    op.create_table(
        "sweep_trials",
        sa.Column(
            "sweep_id",
            sa.String(32),
            sa.ForeignKey("sweeps.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("distributions", sa.Text, nullable=False),
        sa.Column("intermediate", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("objective_key", sa.String(64)),
        sa.Column("cache_key", sa.String(64)),
        sa.Column("cached_from", sa.String(32)),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
    )
    op.create_index("ix_sweep_trials_cache", "sweep_trials", ["objective_key", "cache_key"])
    op.create_index("ix_sweep_trials_run", "sweep_trials", ["run_id"])


def downgrade() -> None:
    op.drop_table("sweep_trials")
    op.drop_table("sweeps")
