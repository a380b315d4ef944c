"""Tables for monitoring: monitors, catalog versions, metrics, values, alerts, incidents.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
# The lead re-chains this after the 0004/0005 migrations of the other capabilities.
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "monitor_catalogs",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("n_active", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "monitor_metrics",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(500), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("added_in", sa.Integer, nullable=False),
        sa.Column("pruned_in", sa.Integer),
        sa.Column("reason", sa.Text),
    )
    op.create_table(
        "monitor_values",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("window_seconds", sa.Integer, primary_key=True),
        sa.Column("window_start", sa.Float, primary_key=True),
        sa.Column("metric", sa.String(500), primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_monitor_values_metric",
        "monitor_values",
        ["model", "metric", "window_seconds", "window_start"],
    )
    op.create_table(
        "monitor_incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("notified_at", sa.Float),
    )
    op.create_index("ix_monitor_incidents_model", "monitor_incidents", ["model", "opened_at"])
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(500), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("window_seconds", sa.Integer, nullable=False),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("incident_id", sa.Integer),
        sa.Column("verdict", sa.String(8)),
        sa.Column("verdict_by", sa.String(200)),
        sa.Column("verdict_at", sa.Float),
        sa.Column("action", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_monitor_alerts_unique",
        "monitor_alerts",
        ["model", "metric", "rule", "window_seconds", "window_start"],
        unique=True,
    )
    op.create_index("ix_monitor_alerts_model", "monitor_alerts", ["model", "window_start"])


def downgrade() -> None:
    for table in (
        "monitor_alerts",
        "monitor_incidents",
        "monitor_values",
        "monitor_metrics",
        "monitor_catalogs",
        "monitors",
    ):
        op.drop_table(table)
