"""Tables of the monitoring capability (registered on the shared ``metadata``).

A monitor belongs to one served model. Its metric catalog is versioned: each ``init`` or
prune/restore writes a new ``monitor_catalogs`` row, and each metric remembers the version that
added it and the one that pruned it, so the evolution of the set can be read back. Metric values
are one row per (metric, window); alerts point at a metric and a window, incidents group them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from loopml.store._metadata import metadata

monitors = Table(
    "monitors",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("config", Text, nullable=False),  # JSON: window, reference description, webhook
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

monitor_catalogs = Table(
    "monitor_catalogs",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("note", Text, nullable=False),  # what changed: generated, pruned 212, restored x
    Column("n_active", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

monitor_metrics = Table(
    "monitor_metrics",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("name", String(500), primary_key=True),
    Column("kind", String(64), nullable=False),  # the registered metric class
    Column("spec", Text, nullable=False),  # JSON: the class's parameters and its alert rule
    Column("state", String(16), nullable=False),  # active, pruned
    Column("added_in", Integer, nullable=False),
    Column("pruned_in", Integer),
    Column("reason", Text),  # why it was pruned (or restored)
)

monitor_values = Table(
    "monitor_values",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("window_seconds", Integer, primary_key=True),
    Column("window_start", Float, primary_key=True),
    Column("metric", String(500), primary_key=True),
    Column("value", Float),  # null: the window had no rows the metric could use
    Column("n", BigInteger, nullable=False),  # rows in the window
    Index("ix_monitor_values_metric", "model", "metric", "window_seconds", "window_start"),
)

monitor_incidents = Table(
    "monitor_incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("opened_at", Float, nullable=False),  # first alerting window's start
    Column("last_at", Float, nullable=False),  # last alerting window's start
    Column("title", Text, nullable=False),
    Column("notified_at", Float),
    Index("ix_monitor_incidents_model", "model", "opened_at"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("metric", String(500), nullable=False),
    Column("rule", String(32), nullable=False),  # threshold, zscore, drift
    Column("window_seconds", Integer, nullable=False),
    Column("window_start", Float, nullable=False),
    Column("value", Float),
    Column("detail", Text, nullable=False),  # human text: why it fired
    Column("incident_id", Integer),
    Column("verdict", String(8)),  # useful, noise, or null (not judged)
    Column("verdict_by", String(200)),
    Column("verdict_at", Float),
    Column("action", Text),  # JSON: what was done about it (dataset version, labeling project)
    Column("created_at", Float, nullable=False),
    Index(
        "ix_monitor_alerts_unique",
        "model",
        "metric",
        "rule",
        "window_seconds",
        "window_start",
        unique=True,
    ),
    Index("ix_monitor_alerts_model", "model", "window_start"),
)
