"""The registry's functions: register, aliases, resolve references, load."""

from __future__ import annotations

import getpass
import re
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError
from loopml.registry._flavors import FLAVORS, detect_flavor, save_file, suffix_of
from loopml.registry._signature import Signature, infer_signature
from loopml.registry._version import ModelVersion

if TYPE_CHECKING:
    from loopml.store import AliasEvent, ModelRecord, Store

__all__ = [
    "alias_history",
    "get",
    "list_models",
    "load",
    "parse_ref",
    "peek",
    "register",
    "remove_alias",
    "set_alias",
    "versions",
]

_REF = re.compile(r"^(?P<name>[^@/]+)(?:(?:@(?P<alias>[^@/]+))|(?:/(?P<version>[^@/]+)))?$")


def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    from loopml.tracking import default_session

    return default_session().store


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return None


def parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    """``(name, alias, version)`` from ``name@alias``, ``name/3`` or ``name`` (the latest)."""
    m = _REF.match(ref) if isinstance(ref, str) else None
    if m is None:
        raise ValidationError(
            f"model reference {ref!r} is not understood; write 'name@alias' (e.g. "
            "'digits@champion'), 'name/3' for version 3, or 'name' for the latest"
        )
    version = m.group("version")
    if version is not None and not version.isdigit():
        raise ValidationError(
            f"model reference {ref!r}: the version after '/' must be a number; "
            f"for an alias write '{m.group('name')}@{version}'"
        )
    return m.group("name"), m.group("alias"), None if version is None else int(version)


def _task_and_classes(
    model: Any, flavor: str, classes: list[Any] | None
) -> tuple[str, list[Any] | None]:
    if classes is None and hasattr(model, "classes_"):
        classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    if classes is not None:
        for c in classes:
            if not isinstance(c, (str, int, float, bool)):
                raise ValidationError(f"class labels must be strings or numbers, not {c!r}")
        return "classifier", list(classes)
    return "regressor", None


def register(
    name: str,
    model: Any,
    run: Any = None,
    example: Any = None,
    *,
    flavor: str | None = None,
    classes: list[Any] | None = None,
    description: str | None = None,
    trusted_types: list[str] | None = None,
    store: Store | None = None,
) -> ModelVersion:
    """Store ``model`` as the next immutable version of ``name`` and return it.

    ``run`` (a Run, RunRecord or run id) links the version to the run that made it (lineage);
    ``example`` (a few input rows: DataFrame, dict of columns or 2-D array) gives the input
    signature the server validates requests against. scikit-learn models are saved with skops;
    ONNX models (bytes, path or ModelProto) run with onnxruntime; anything else is cloudpickled
    and loads only with ``trust=True``. ``trusted_types`` vouches for non-scikit-learn types
    inside a skops file (e.g. your own transformer).
    """
    from loopml.store import check_model_name

    check_model_name(name)
    store = _store(store)
    flavor = flavor or detect_flavor(model)
    if flavor not in FLAVORS:
        raise ValidationError(f"flavor {flavor!r} is not one of {list(FLAVORS)}")
    run_id: str | None = None
    if run is not None:
        raw = run if isinstance(run, str) else getattr(run, "id", None)
        if not isinstance(raw, str):
            raise ValidationError(
                f"run must be a Run, a RunRecord or a run id, not {type(run).__name__}"
            )
        try:
            run_id = store.runs.resolve_id(raw)
        except NotFoundError:
            run_id = raw  # a live run whose row is written with its first flush
    signature: Signature | None = None
    if example is not None:
        signature = infer_signature(example)
    elif hasattr(model, "feature_names_in_"):
        from loopml.registry._signature import Feature

        signature = Signature(tuple(Feature(str(n), "float64") for n in model.feature_names_in_))
    task, class_list = _task_and_classes(model, flavor, classes)
    if description is not None and not isinstance(description, str):
        raise ValidationError(f"description must be text, not {type(description).__name__}")
    staging = store.models.staging_file(name)
    try:
        vouched = save_file(model, flavor, staging, trusted_types or [])
        record = store.models.add_version(
            name,
            staging,
            flavor=flavor,
            suffix=suffix_of(flavor),
            task=task,
            signature_json=signature.to_json() if signature else None,
            classes=class_list,
            trusted_types=vouched,
            run_id=run_id,
            description=description,
            created_by=_user(),
        )
    finally:
        staging.unlink(missing_ok=True)
    return ModelVersion.from_record(record, store)


def get(ref: str, *, store: Store | None = None) -> ModelVersion:
    """The version a reference names: ``name@alias``, ``name/3`` or ``name`` (latest)."""
    store = _store(store)
    name, alias, version = parse_ref(ref)
    if alias is not None:
        version = store.models.alias_version(name, alias)
    elif version is None:
        all_versions = store.models.versions(name)
        if not all_versions:
            raise NotFoundError(f"model {name!r} has no versions yet")
        return ModelVersion.from_record(all_versions[-1], store)
    return ModelVersion.from_record(store.models.get_version(name, version), store)


def peek(ref: str) -> ModelVersion:
    """The version a reference names, as :func:`get` finds it, read without opening the store
    when that can be done (this process has no store open, and the store is a SQLite file at
    this loopml's schema).

    For a process that needs one version before anything else from the store: ``loopml serve``
    checks its model with it while its workers start. What this cannot read, and every error
    (an unknown model, alias or version), is :func:`get`'s, with its messages. Unlike
    :func:`get` it may leave the store unopened: no migration, no recovery of dead runs.
    """
    name, alias, version = parse_ref(ref)
    from loopml.tracking import default_session_open

    if not default_session_open():  # an open store answers as cheaply, and may be another one
        from loopml._config import Settings
        from loopml.store import find_model_version

        found = find_model_version(Settings.from_env(), name, alias=alias, version=version)
        if found is not None:
            return ModelVersion.from_record(found)
    return get(ref)


def load(
    ref: str,
    *,
    trust: bool = False,
    trusted_types: list[str] | None = None,
    store: Store | None = None,
) -> Any:
    """The model object of ``name@alias`` / ``name/3``.

    A skops file is loaded only if every type in it was trusted at registration (or is named in
    ``trusted_types``); a pickled Python model only with ``trust=True``.
    """
    return get(ref, store=store).load(trust=trust, trusted_types=trusted_types)


def set_alias(
    name: str,
    alias: str,
    version: int,
    reason: str | None = None,
    *,
    user: str | None = None,
    store: Store | None = None,
) -> AliasEvent:
    """Point ``alias`` (``champion``, ``challenger``, any name) of ``name`` at ``version``.

    The move is recorded with who made it, when and ``reason``; servers of ``name@alias`` swap
    to the new version within a second or two.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError(f"version must be a positive integer, not {version!r}")
    if reason is not None and not isinstance(reason, str):
        raise ValidationError(f"reason must be text, not {type(reason).__name__}")
    return _store(store).models.set_alias(name, alias, version, reason, user or _user())


def remove_alias(
    name: str, alias: str, reason: str | None = None, *, store: Store | None = None
) -> AliasEvent:
    """Remove ``alias`` from ``name`` (recorded in the audit log like a move)."""
    return _store(store).models.set_alias(name, alias, None, reason, _user())


def versions(name: str, *, store: Store | None = None) -> list[ModelVersion]:
    """Every version of ``name``, oldest first."""
    store = _store(store)
    return [ModelVersion.from_record(r, store) for r in store.models.versions(name)]


def list_models(*, store: Store | None = None) -> list[ModelRecord]:
    """Every registered model with its version count, latest version and aliases."""
    return _store(store).models.list_models()


def alias_history(
    name: str, alias: str | None = None, *, store: Store | None = None
) -> list[AliasEvent]:
    """Who moved ``name``'s aliases (or one alias), when, from which version to which, and why."""
    return _store(store).models.alias_history(name, alias)
