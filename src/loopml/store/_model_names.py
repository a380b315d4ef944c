"""The rules for model names and aliases (a name is also a folder name).

Apart from the SQL model store, so that what only needs the rules (the prediction log's files)
does not import SQLAlchemy.
"""

from __future__ import annotations

import re

from loopml._errors import ValidationError

__all__ = ["check_alias", "check_model_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def check_model_name(name: object) -> str:
    """``name`` if it is a valid model name (it is also a folder name); a ValidationError if not."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValidationError(
            f"model name {name!r} is not allowed: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'digits-clf')"
        )
    return name


def check_alias(alias: object) -> str:
    """``alias`` if valid (a letter, then letters, digits, '_' or '-'; not all digits)."""
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise ValidationError(
            f"alias {alias!r} is not allowed: use 1-64 letters, digits, '_' or '-', starting "
            "with a letter (e.g. 'champion')"
        )
    return alias
