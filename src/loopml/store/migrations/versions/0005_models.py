"""Tables for the model registry: models, versions, aliases and the alias audit log.

Revision ID: 0005
Revises: 0003 (the lead re-chains it after 0004, evaluations, at merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _model_fk() -> sa.Column:
    return sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("flavor", sa.String(16), nullable=False),
        sa.Column("file", sa.String(300), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("signature", sa.Text),
        sa.Column("classes", sa.Text),
        sa.Column("trusted_types", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("description", sa.Text),
        sa.Column("created_by", sa.String(100)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_model_versions_number", "model_versions", ["model_id", "version"], unique=True
    )
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_table(
        "model_aliases",
        sa.Column(
            "model_id",
            sa.Integer,
            sa.ForeignKey("models.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "model_alias_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("from_version", sa.Integer),
        sa.Column("to_version", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("user", sa.String(100)),
        sa.Column("time", sa.Float, nullable=False),
    )
    op.create_index("ix_model_alias_events_model", "model_alias_events", ["model_id", "time"])


def downgrade() -> None:
    op.drop_table("model_alias_events")
    op.drop_table("model_aliases")
    op.drop_table("model_versions")
    op.drop_table("models")
