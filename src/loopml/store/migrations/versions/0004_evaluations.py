"""Tables for evaluations: metrics and links, error tags, labeling requests.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _evaluation_fk() -> sa.Column:
    return sa.Column(
        "evaluation_id",
        sa.String(32),
        sa.ForeignKey("evaluations.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column(
            "dataset_digest",
            sa.String(64),
            sa.ForeignKey("dataset_versions.digest"),
            nullable=False,
        ),
        sa.Column("split", sa.String(200)),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("classes", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.Column("model_version", sa.String(250)),
        sa.Column("n_rows", sa.BigInteger, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("file", sa.String(300), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_evaluations_dataset", "evaluations", ["dataset_digest", "created_at"])
    op.create_index("ix_evaluations_run", "evaluations", ["run_id"])
    op.create_table(
        "eval_tags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _evaluation_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rule", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("evaluation_id", "name", name="uq_eval_tags_name"),
    )
    op.create_table(
        "eval_tag_items",
        sa.Column(
            "tag_id",
            sa.Integer,
            sa.ForeignKey("eval_tags.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("item_id", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_eval_tag_items_item", "eval_tag_items", ["item_id"])
    op.create_table(
        "eval_label_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _evaluation_fk(),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("group_kind", sa.String(16), nullable=False),
        sa.Column("group_name", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("item_ids", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_eval_label_requests_eval", "eval_label_requests", ["evaluation_id"])


def downgrade() -> None:
    op.drop_table("eval_label_requests")
    op.drop_table("eval_tag_items")
    op.drop_table("eval_tags")
    op.drop_table("evaluations")
