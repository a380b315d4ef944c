"""Monitoring: a very large metric set computed in one pass, drift you can trust, alerts, and
metrics that prove their use or get pruned.

    import loopml
    report = loopml.monitoring.drift(train_frame, last_week_frame)   # .features, .drifted
    loopml.monitoring.init("fraud", reference="fraud-train@3", window="1h")
    loopml.monitoring.backfill("fraud", since="2026-11-01", until="2026-11-30")
    loopml.monitoring.mark(alert_id, "useful")
    loopml.monitoring.prune("fraud", apply=True)
"""

from loopml.monitoring._alerts import evaluate_rules
from loopml.monitoring._catalog import (
    FeatureProfile,
    ReferenceProfile,
    generate_catalog,
    profile_reference,
)
from loopml.monitoring._compute import WindowValues, compute_windows, parse_window
from loopml.monitoring._drift import DriftReport, FeatureDrift, drift, holm
from loopml.monitoring._label import LabelingHandoff, drifted_rows, send_to_labeling
from loopml.monitoring._metrics import Metric, make_metric, metric_classes, register_metric
from loopml.monitoring._monitor import (
    MonitorRun,
    add_metric,
    alerts,
    backfill,
    catalog,
    catalog_versions,
    compact_log,
    incidents,
    init,
    mark,
    run,
    values,
)
from loopml.monitoring._prune import PrunePlan, PruneSuggestion, prune, restore, usefulness
from loopml.monitoring._scheduler import MonitorScheduler
from loopml.monitoring._server_hook import ServerMonitor, serve_hook
from loopml.monitoring._simulate import Incident, SimulatedLog, default_incidents, simulate_log
from loopml.monitoring._views import (
    DriftHeatmap,
    Sparkline,
    drift_heatmap,
    estimate_vs_realized,
    register_prometheus,
    sparklines,
)

__all__ = [
    "DriftHeatmap",
    "DriftReport",
    "FeatureDrift",
    "FeatureProfile",
    "Incident",
    "LabelingHandoff",
    "Metric",
    "MonitorRun",
    "MonitorScheduler",
    "PrunePlan",
    "PruneSuggestion",
    "ReferenceProfile",
    "ServerMonitor",
    "SimulatedLog",
    "Sparkline",
    "WindowValues",
    "add_metric",
    "alerts",
    "backfill",
    "catalog",
    "catalog_versions",
    "compact_log",
    "compute_windows",
    "default_incidents",
    "drift",
    "drift_heatmap",
    "drifted_rows",
    "estimate_vs_realized",
    "evaluate_rules",
    "generate_catalog",
    "holm",
    "incidents",
    "init",
    "make_metric",
    "mark",
    "metric_classes",
    "parse_window",
    "profile_reference",
    "prune",
    "register_metric",
    "register_prometheus",
    "restore",
    "run",
    "send_to_labeling",
    "serve_hook",
    "simulate_log",
    "sparklines",
    "usefulness",
    "values",
]
