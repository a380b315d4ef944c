"""The run filter language: parsed into a small tree, never pasted into SQL.

Grammar (case-insensitive keywords)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | comparison
    comparison := field op literal
                | field ["not"] "in" "(" literal ("," literal)* ")"
                | field ["not"] "like" string
    field      := attribute | ("metrics" | "params" | "tags") "." key
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="

A key runs to the end of the dotted name (``metrics.val.acc`` is the key ``val.acc``); a key with
other characters goes in backticks: ``metrics.`val loss` < 0.2``. Strings take single or double
quotes; numbers include ``nan``, ``inf`` and ``-inf``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from loopml._errors import QueryError

__all__ = [
    "ATTRIBUTES",
    "And",
    "Compare",
    "Field",
    "InList",
    "Like",
    "Not",
    "Or",
    "SortKey",
    "fields_of",
    "parse_filter",
    "parse_order_by",
]

FieldKind = Literal["attr", "metric", "param", "tag", "column"]
Scalar = str | float

# Run attributes that filters and sorts may name directly.
ATTRIBUTES = (
    "id",
    "name",
    "status",
    "project",
    "created_at",
    "ended_at",
    "heartbeat_at",
    "duration",
    "git_commit",
    "host",
    "sweep_id",
)
_PREFIXES: dict[str, FieldKind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attr",
    "attribute": "attr",
}


@dataclass(frozen=True)
class Field:
    """A run attribute, or a metric / param / tag named by key."""

    kind: FieldKind
    key: str

    def __str__(self) -> str:
        if self.kind in ("attr", "column"):
            return self.key
        return f"{self.kind}s.{self.key}"


@dataclass(frozen=True)
class Compare:
    """``field op value``."""

    field: Field
    op: str
    value: Scalar


@dataclass(frozen=True)
class InList:
    """``field [not] in (v1, v2, ...)``."""

    field: Field
    values: tuple[Scalar, ...]
    negate: bool = False


@dataclass(frozen=True)
class Like:
    """``field [not] like 'pattern'`` with SQL wildcards ``%`` and ``_``."""

    field: Field
    pattern: str
    negate: bool = False


@dataclass(frozen=True)
class Not:
    """``not expr``."""

    item: Node


@dataclass(frozen=True)
class And:
    """All of ``items``."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``items``."""

    items: tuple[Node, ...]


Node = Compare | InList | Like | Not | And | Or


@dataclass(frozen=True)
class SortKey:
    """One sort column; ``descending`` for a leading ``-`` or a trailing ``desc``."""

    field: Field
    descending: bool = False


_NAME = r"(?:[A-Za-z_]\w*|`[^`]+`)(?:\.(?:[\w\-:/]+|`[^`]+`))*"
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<lpar>\()
  | (?P<rpar>\))
  | (?P<comma>,)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))
  | (?P<name>"""
    + _NAME
    + r""")
    """,
    re.VERBOSE,
)
_OPS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_HELP = (
    "write comparisons like metrics.acc > 0.9, params.model = 'svc', tags.team in ('a', 'b') "
    "or name like 'bert%', joined with and / or and parentheses"
)


@dataclass
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            raise QueryError(
                f"cannot read the filter at position {pos}: {source[pos : pos + 20]!r}; {_HELP}"
            )
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, m.group(), pos))
        pos = m.end()
    return tokens


def _unquote_string(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body.replace(quote * 2, quote))


def _split_name(text: str) -> list[str]:
    parts: list[str] = []
    for m in re.finditer(r"`([^`]+)`|([^.`]+)", text):
        parts.append(m.group(1) if m.group(1) is not None else m.group(2))
    return parts


def _field(text: str, pos: int) -> Field:
    parts = _split_name(text)
    head = parts[0]
    kind = _PREFIXES.get(head.lower()) if not text.startswith("`") else None
    if kind is not None and len(parts) > 1:
        key = ".".join(parts[1:])
        if kind == "attr":
            return _attribute(key, pos)
        return Field(kind, key)
    if kind is not None:
        raise QueryError(
            f"{text!r} at position {pos} needs a key: write e.g. {head}.acc or {head}.`odd key`"
        )
    return _attribute(".".join(parts), pos)


def _attribute(name: str, pos: int) -> Field:
    if name.lower() not in ATTRIBUTES:
        raise QueryError(
            f"unknown run attribute {name!r} at position {pos}; attributes are "
            f"{', '.join(ATTRIBUTES)}, and keys are written metrics.KEY, params.KEY or tags.KEY"
        )
    return Field("attr", name.lower())


def _column(text: str, pos: int, columns: tuple[str, ...]) -> Field:
    # Predicates over a table's columns (slices of an evaluation): a bare or backticked name.
    name = ".".join(_split_name(text))
    if name in columns:
        return Field("column", name)
    import difflib

    close = difflib.get_close_matches(name, columns, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise QueryError(
        f"unknown column {name!r} at position {pos}{hint} The columns are: {', '.join(columns)}"
    )


class _Parser:
    def __init__(self, source: str, columns: tuple[str, ...] | None = None) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0
        self.columns = columns

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, what: str) -> _Token:
        tok = self.peek()
        if tok is None:
            raise QueryError(f"the filter {self.source!r} ends where {what} was expected; {_HELP}")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def fail(self, tok: _Token, what: str) -> QueryError:
        return QueryError(f"expected {what} at position {tok.pos} but found {tok.text!r}; {_HELP}")

    def parse(self) -> Node:
        node = self.expr()
        tok = self.peek()
        if tok is not None:
            raise self.fail(tok, "'and', 'or' or the end of the filter")
        return node

    def expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.unary()]
        while self.keyword("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        if self.keyword("not"):
            return Not(self.unary())
        tok = self.peek()
        if tok is not None and tok.kind == "lpar":
            self.i += 1
            node = self.expr()
            close = self.next("')'")
            if close.kind != "rpar":
                raise self.fail(close, "')'")
            return node
        return self.comparison()

    def literal(self) -> Scalar:
        tok = self.next("a value")
        if tok.kind == "string":
            return _unquote_string(tok.text)
        if tok.kind == "number":
            return float(tok.text)
        if tok.kind == "name" and tok.text.lower() in ("nan", "inf", "infinity"):
            return math.nan if tok.text.lower() == "nan" else math.inf
        if tok.kind == "op" and tok.text == "-":  # pragma: no cover - '-' is read with numbers
            raise self.fail(tok, "a value")
        if tok.kind == "name" and tok.text.lower() in ("true", "false"):
            return tok.text.lower()
        raise self.fail(tok, "a value (a number, or a string in quotes)")

    def comparison(self) -> Node:
        tok = self.next("a field such as metrics.acc")
        if tok.kind != "name":
            raise self.fail(tok, "a field such as metrics.acc, params.model or status")
        if self.columns is not None:
            field = _column(tok.text, tok.pos, self.columns)
        else:
            field = _field(tok.text, tok.pos)
        negate = self.keyword("not")
        if self.keyword("in"):
            open_ = self.next("'('")
            if open_.kind != "lpar":
                raise self.fail(open_, "'(' after 'in'")
            values = [self.literal()]
            while True:
                sep = self.next("',' or ')'")
                if sep.kind == "rpar":
                    break
                if sep.kind != "comma":
                    raise self.fail(sep, "',' or ')'")
                values.append(self.literal())
            return InList(field, tuple(values), negate)
        if self.keyword("like"):
            pattern = self.literal()
            if not isinstance(pattern, str):
                raise QueryError(f"'like' needs a quoted pattern such as 'bert%', not {pattern!r}")
            return Like(field, pattern, negate)
        if negate:
            raise QueryError(f"'not' after {field} must be followed by 'in' or 'like'; {_HELP}")
        op = self.next("a comparison such as > or =")
        if op.kind != "op":
            raise self.fail(op, "a comparison operator (=, !=, <, <=, >, >=, in, like)")
        return Compare(field, _OPS[op.text], self.literal())


def parse_filter(source: str | None, columns: Sequence[str] | None = None) -> Node | None:
    """Parse a filter string into a tree; ``None`` or blank means no filter.

    With ``columns``, fields are those column names (bare, or in backticks) instead of run
    attributes and ``metrics.``/``params.``/``tags.`` keys: the same language for predicates
    over a table's rows (``brightness < 0.3 and source = 'scan'``).
    """
    if source is None:
        return None
    if not isinstance(source, str):
        raise QueryError(
            f'a filter must be a string such as "metrics.acc > 0.9", not {type(source).__name__}'
        )
    if not source.strip():
        return None
    if "\x00" in source:
        raise QueryError("the filter contains a NUL character; remove it")
    _check_encodable(source, "filter")
    return _Parser(source, None if columns is None else tuple(columns)).parse()


def _check_encodable(source: str, what: str) -> None:
    """Refuse a lone surrogate (text no encoding can store), naming where it is."""
    for pos, ch in enumerate(source):
        if "\ud800" <= ch <= "\udfff":
            raise QueryError(
                f"the {what} {source!r} has a lone surrogate {ch!r} at position {pos}, which is "
                "not valid text; remove it or write the intended character"
            )


def fields_of(node: Node | None) -> list[Field]:
    """Every field a filter names, in order of appearance."""
    if node is None:
        return []
    if isinstance(node, Compare | InList | Like):
        return [node.field]
    if isinstance(node, Not):
        return fields_of(node.item)
    return [f for item in node.items for f in fields_of(item)]


def parse_order_by(source: str | list[str] | tuple[str, ...] | None) -> list[SortKey]:
    """Parse ``"-metrics.acc, name"`` (or a list of such items) into sort keys."""
    if source is None:
        return []
    items = source.split(",") if isinstance(source, str) else list(source)
    keys: list[SortKey] = []
    for raw in items:
        if not isinstance(raw, str):
            raise QueryError(f"sort keys must be strings such as '-metrics.acc', not {raw!r}")
        text = raw.strip()
        if not text:
            continue
        descending = False
        if text[0] in "+-":
            descending = text[0] == "-"
            text = text[1:].strip()
        lowered = text.lower()
        for suffix, desc in ((" desc", True), (" asc", False)):
            if lowered.endswith(suffix):
                descending = desc
                text = text[: -len(suffix)].strip()
                break
        if not re.fullmatch(_NAME, text):
            raise QueryError(
                f"cannot sort by {raw.strip()!r}; write e.g. '-metrics.acc' (descending) or 'name'"
            )
        keys.append(SortKey(_field(text, 0), descending))
    return keys
