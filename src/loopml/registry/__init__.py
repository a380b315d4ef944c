"""The model registry: immutable model versions with their input signature and lineage, and
aliases (``champion``, ``challenger``...) with an audit log of every move.

    import loopml.registry as reg
    mv = reg.register("digits-clf", model, run=run, example=X_train[:5])
    reg.set_alias("digits-clf", "champion", mv.version, reason="best macro F1")
    model = reg.load("digits-clf@champion")
    mv.lineage()      # run -> dataset versions -> guideline versions
"""

from loopml.registry._api import (
    alias_history,
    get,
    list_models,
    load,
    parse_ref,
    peek,
    register,
    remove_alias,
    set_alias,
    versions,
)
from loopml.registry._flavors import import_loader
from loopml.registry._signature import Feature, InputError, Signature, infer_signature
from loopml.registry._version import GuidelineUse, Lineage, ModelVersion

__all__ = [
    "Feature",
    "GuidelineUse",
    "InputError",
    "Lineage",
    "ModelVersion",
    "Signature",
    "alias_history",
    "get",
    "import_loader",
    "infer_signature",
    "list_models",
    "load",
    "parse_ref",
    "peek",
    "register",
    "remove_alias",
    "set_alias",
    "versions",
]
