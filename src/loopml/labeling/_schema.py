"""``LabelSchema``: the classes of a labeling project, and how labels are stored (as integers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopml._errors import ValidationError

__all__ = ["LabelSchema"]

_MAX_MULTI = 62  # a multi-label set is a bit mask in a signed 64-bit column


@dataclass(frozen=True)
class LabelSchema:
    """The class names, in order (keys 1-9 in the annotator page follow this order).

    Single-label: a label is one class, stored as its index. Multi-label: a label is a set of
    classes, stored as a bit mask.
    """

    classes: tuple[str, ...]
    multi_label: bool = False

    def __post_init__(self) -> None:
        if len(self.classes) < 2:
            raise ValidationError(
                f"a label schema needs at least 2 classes, got {list(self.classes)!r}"
            )
        if len(set(self.classes)) != len(self.classes):
            raise ValidationError(f"class names must be unique, got {list(self.classes)!r}")
        if any(not isinstance(c, str) or not c.strip() or len(c) > 200 for c in self.classes):
            raise ValidationError(
                f"class names must be non-empty text of at most 200 characters, got {list(self.classes)!r}"
            )
        if self.multi_label and len(self.classes) > _MAX_MULTI:
            raise ValidationError(
                f"a multi-label schema has at most {_MAX_MULTI} classes, got {len(self.classes)}"
            )

    @classmethod
    def of(cls, classes: Sequence[Any], multi_label: bool = False) -> LabelSchema:
        """Build from any sequence of class names (turned into text)."""
        return cls(tuple(str(c) for c in classes), multi_label)

    def index(self, name: Any) -> int:
        """The index of class ``name``; a clear error for an unknown class."""
        try:
            return self.classes.index(str(name))
        except ValueError:
            raise ValidationError(
                f"unknown class {name!r}; this project's classes are {list(self.classes)}"
            ) from None

    def encode(self, label: Any) -> int:
        """A class name (or, multi-label, a list of names) as the stored integer."""
        if self.multi_label:
            names = [label] if isinstance(label, str) else list(label)
            if not names:
                raise ValidationError("a multi-label annotation needs at least one class")
            mask = 0
            for n in names:
                mask |= 1 << self.index(n)
            return mask
        if not isinstance(label, (str, int)) or isinstance(label, bool):
            raise ValidationError(
                f"a label is one class name, e.g. {self.classes[0]!r}; got {label!r}"
            )
        return self.index(label)

    def decode(self, value: int | None) -> str | list[str] | None:
        """The stored integer back as a class name (or list of names)."""
        if value is None:
            return None
        if self.multi_label:
            return [c for i, c in enumerate(self.classes) if value >> i & 1]
        return self.classes[int(value)]
