"""Evaluation and error analysis: per-example results, slices, error tags, the ceiling table,
slice discovery, model comparison, and "send to labeling".

    import loopml
    ev = loopml.evaluate(predictions, dataset="digits@1", split="test", classes=classes)
    ev.metrics["accuracy"]                        # value, low, high (95% bootstrap)
    ev.slice("brightness < 0.3 and source = 'scan'")
    ev.discover_slices(k=5)                       # significant high-error slices
    ev.tag("blurry", where="brightness < 0.2")    # or items=[...], or ev.auto_tag(...)
    ev.ceiling(by="tags")                         # the gain if each group's errors were fixed
    ev.compare(challenger).regressions
    ev.send_to_labeling(tag="blurry", annotators=["ann"])
"""

from loopml.analysis._ceiling import LOWER_IS_BETTER
from loopml.analysis._compare import Comparison
from loopml.analysis._evaluate import PREDICTIONS_ARTIFACT, evaluate
from loopml.analysis._evaluation import Evaluation, get_evaluation, list_evaluations
from loopml.analysis._slices import SliceResult
from loopml.analysis._tags import AUTO_TAGS

__all__ = [
    "AUTO_TAGS",
    "LOWER_IS_BETTER",
    "PREDICTIONS_ARTIFACT",
    "Comparison",
    "Evaluation",
    "SliceResult",
    "evaluate",
    "get_evaluation",
    "list_evaluations",
]
