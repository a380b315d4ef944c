"""Prometheus metrics of a model server, with the standard names.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``loopml serve`` sets it), every worker writes its values
to files there and ``/metrics`` adds them up across workers (prometheus_client's multiprocess
mode); without it, the metrics live in the app's own registry (one process, e.g. tests).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class Metrics:
    """The server's counters and histograms, and their exposition."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # In multiprocess mode values go to files, and /metrics builds a fresh registry.
        self.registry = None if self.multiprocess else CollectorRegistry()
        reg: Any = self.registry
        self.requests = Counter(
            "loopml_requests",
            "HTTP requests answered, by endpoint and status code.",
            ["endpoint", "status"],
            registry=reg,
        )
        self.latency = Histogram(
            "loopml_request_duration_seconds",
            "Time from receiving a request to answering it.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.predictions = Counter(
            "loopml_predictions",
            "Rows predicted, by model and predicted class.",
            ["model", "class"],
            registry=reg,
        )
        self.batch_rows = Histogram(
            "loopml_batch_rows",
            "Rows per model call (concurrent requests are batched into one call).",
            buckets=_BATCH_BUCKETS,
            registry=reg,
        )
        self.model_info = Gauge(
            "loopml_model_version_info",
            "The model version a server answers with (1), by role (primary or shadow).",
            ["model", "ref", "version", "role"],
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.feedback = Counter(
            "loopml_feedback", "Ground-truth records received.", ["model"], registry=reg
        )
        self._children: dict[tuple[str, str], Any] = {}

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (endpoint, str(status))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (
                self.requests.labels(endpoint, str(status)),
                self.latency.labels(endpoint),
            )
        child[0].inc()
        child[1].observe(seconds)

    def set_model(self, model: str, ref: str, version: int, role: str, old: int | None) -> None:
        """Mark ``version`` as the one answering (and ``old``, if any, as retired)."""
        if old is not None:
            self.model_info.labels(model, ref, str(old), role).set(0)
        self.model_info.labels(model, ref, str(version), role).set(1)

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric (added up across workers in multiprocess mode)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        assert self.registry is not None
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
