"""Model serving: a validated, micro-batched prediction endpoint with hot swap, a shadow
challenger, Prometheus metrics, and a crash-safe prediction log in hourly Parquet files.

    loopml serve digits-clf@champion --port 8000 --workers 2 --shadow digits-clf@challenger

    import loopml.serving
    loopml.serving.predictions("digits-clf", since="2026-11-30T04:00")   # a DataFrame
    loopml.serving.predict_file("digits-clf@champion", "in.parquet", "out.parquet")
"""

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# Public name -> the module that defines it, imported on first access (PEP 562): a server
# worker imports this package on its way to ``_app``, and needs none of the readers, the
# command's own module or Ray's (with the store modules they import, ~0.02 CPU s per worker).
_EXPORTS = {
    "loopml.serving._app": ("ServeConfig", "create_app"),
    "loopml.serving._log": ("LogWatermark", "log_watermark"),
    "loopml.serving._ray": ("serve_on_ray",),
    "loopml.serving._read": ("feedback", "predict_file", "predictions", "recover_log"),
    "loopml.serving._serve": ("is_loopback", "serve"),
    "loopml.serving._traffic": (
        "MinuteTraffic",
        "TrafficSummary",
        "deployed_models",
        "traffic",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.serving._app import ServeConfig, create_app
    from loopml.serving._log import LogWatermark, log_watermark
    from loopml.serving._ray import serve_on_ray
    from loopml.serving._read import feedback, predict_file, predictions, recover_log
    from loopml.serving._serve import is_loopback, serve
    from loopml.serving._traffic import MinuteTraffic, TrafficSummary, deployed_models, traffic

__all__ = [
    "LogWatermark",
    "MinuteTraffic",
    "ServeConfig",
    "TrafficSummary",
    "create_app",
    "deployed_models",
    "feedback",
    "is_loopback",
    "log_watermark",
    "predict_file",
    "predictions",
    "recover_log",
    "serve",
    "serve_on_ray",
    "traffic",
]
