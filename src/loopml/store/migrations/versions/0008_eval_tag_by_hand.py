"""Error tags: mark the examples a person tagged by hand, whatever the tag's kind.

The tagging page applies any tag (hand, rule or automatic) to an example; ``u`` takes back the
newest of those hand-made taggings, and recomputing a rule or automatic tag keeps them.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("eval_tag_items") as batch:
        batch.add_column(
            sa.Column("by_hand", sa.Boolean, nullable=False, server_default=sa.false())
        )
    # Until now only hand tags were applied by hand.
    op.execute(
        "UPDATE eval_tag_items SET by_hand = TRUE "
        "WHERE tag_id IN (SELECT id FROM eval_tags WHERE kind = 'hand')"
    )


def downgrade() -> None:
    with op.batch_alter_table("eval_tag_items") as batch:
        batch.drop_column("by_hand")
