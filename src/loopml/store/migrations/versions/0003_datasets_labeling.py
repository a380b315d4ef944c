"""Tables for datasets and labeling.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _project_fk() -> sa.Column:
    return sa.Column(
        "project_id",
        sa.Integer,
        sa.ForeignKey("label_projects.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("n_items", sa.BigInteger, nullable=False),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("splits", sa.Text, nullable=False),
        sa.Column("parent", sa.String(64)),
        sa.Column("note", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_dataset_versions_number", "dataset_versions", ["dataset_id", "number"], unique=True
    )
    op.create_table(
        "dataset_usage",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "digest", sa.String(64), sa.ForeignKey("dataset_versions.digest"), primary_key=True
        ),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_dataset_usage_digest", "dataset_usage", ["digest"])
    op.create_table(
        "label_projects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column(
            "dataset", sa.String(64), sa.ForeignKey("dataset_versions.digest"), nullable=False
        ),
        sa.Column("classes", sa.Text, nullable=False),
        sa.Column("multi_label", sa.Boolean, nullable=False),
        sa.Column("overlap", sa.Integer, nullable=False),
        sa.Column("show_others", sa.Boolean, nullable=False),
        sa.Column("min_agreement", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "label_items",
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("label_projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.String(500), nullable=False),
    )
    op.create_index("ix_label_items_item", "label_items", ["project_id", "item_id"], unique=True)
    op.create_table(
        "guidelines",
        sa.Column(
            "project_id",
            sa.Integer,
            sa.ForeignKey("label_projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("affects", sa.Text, nullable=False),
        sa.Column("author", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "annotators",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _project_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_annotators_name", "annotators", ["project_id", "name"], unique=True)
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _project_fk(),
        sa.Column(
            "annotator_id",
            sa.Integer,
            sa.ForeignKey("annotators.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("item_idx", sa.Integer, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float),
    )
    op.create_index(
        "ix_assignments_queue", "assignments", ["project_id", "annotator_id", "status", "id"]
    )
    op.create_index(
        "ix_assignments_unique",
        "assignments",
        ["project_id", "annotator_id", "item_idx", "round"],
        unique=True,
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _project_fk(),
        sa.Column("item_idx", sa.Integer, nullable=False),
        sa.Column(
            "annotator_id",
            sa.Integer,
            sa.ForeignKey("annotators.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("label", sa.BigInteger),
        sa.Column("guideline_version", sa.Integer, nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("seconds", sa.Float),
        sa.Column("flag", sa.Boolean, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("assignment_id", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_annotations_stats",
        "annotations",
        ["project_id", "kind", "guideline_version", "item_idx", "annotator_id", "label"],
    )
    op.create_index(
        "ix_annotations_unique",
        "annotations",
        ["project_id", "item_idx", "annotator_id", "guideline_version", "kind"],
        unique=True,
    )
    op.create_index("ix_annotations_annotator", "annotations", ["project_id", "annotator_id", "id"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _project_fk(),
        sa.Column("item_idx", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("resolution", sa.BigInteger),
        sa.Column("resolved_by", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("resolved_at", sa.Float),
    )
    op.create_index("ix_reviews_queue", "reviews", ["project_id", "kind", "status", "score"])


def downgrade() -> None:
    for table in (
        "reviews",
        "annotations",
        "assignments",
        "annotators",
        "guidelines",
        "label_items",
        "label_projects",
        "dataset_usage",
        "dataset_versions",
        "datasets",
    ):
        op.drop_table(table)
