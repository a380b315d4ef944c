"""Metric points without per-row foreign keys (checked once per batch on ingest instead), and
the login rate limiter's counters in the store (shared by every worker and replica).

A foreign key is checked row by row; on PostgreSQL the two on ``metrics`` cost more than the
rest of a point's insert together (about 8 µs each a row), so the team server's COPY ingest
locks the runs it writes once per batch (``FOR KEY SHARE``, what the row checks took) and
deleting a run deletes its points itself (``RunStore.delete``). Key ids come from
``metric_keys``, whose rows are never deleted.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
# The lead re-chains this after the other capabilities' migrations.
down_revision = "0008"
branch_labels = None
depends_on = None


def _metrics(with_keys: bool) -> sa.Table:
    run_fk = [sa.ForeignKey("runs.id", ondelete="CASCADE")] if with_keys else []
    key_fk = [sa.ForeignKey("metric_keys.id")] if with_keys else []
    return sa.Table(
        "metrics",
        sa.MetaData(),
        sa.Column("run_id", sa.String(32), *run_fk, primary_key=True),
        sa.Column("key_id", sa.Integer, *key_fk, primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("flag", sa.SmallInteger, nullable=False, default=0),
        sa.Column("ts", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    op.create_table(
        "login_limits",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        # SQLite cannot drop a constraint: the table is rebuilt without them.
        with op.batch_alter_table(
            "metrics", recreate="always", copy_from=_metrics(with_keys=False)
        ):
            pass
        return
    for fk in sa.inspect(conn).get_foreign_keys("metrics"):
        if fk["name"]:  # PostgreSQL names every constraint
            op.drop_constraint(fk["name"], "metrics", type_="foreignkey")


def downgrade() -> None:
    op.drop_table("login_limits")
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        with op.batch_alter_table("metrics", recreate="always", copy_from=_metrics(with_keys=True)):
            pass
        return
    op.create_foreign_key(
        "metrics_run_id_fkey", "metrics", "runs", ["run_id"], ["id"], ondelete="CASCADE"
    )
    op.create_foreign_key("metrics_key_id_fkey", "metrics", "metric_keys", ["key_id"], ["id"])
