"""Filter-language predicates compiled to DuckDB SQL over a Parquet file's columns.

Values are bound parameters (``?``), never pasted into the SQL; column names are checked against
the file's columns before they are quoted into it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._errors import QueryError
from loopml.store._query import And, Compare, InList, Like, Node, Not, Or, parse_filter

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["GroupKey", "arrow", "compile_where", "duck_types", "group_expr", "quote_ident"]


def arrow(con: Any, sql: str, params: list[Any] | None = None) -> pa.Table:
    """Run a query and return its result as an Arrow table (through a relation, which DuckDB
    converts without the extra copy a DB-API cursor makes)."""
    return con.sql(sql, params=params or None).to_arrow_table()


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
            "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")  # fmt: skip


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Group rows by a column, or by the bin of a numeric column between ``edges``.

    With edges ``(e1, e2, ...)`` the key is the bin number: 0 below ``e1``, 1 from ``e1`` up to
    ``e2``, and so on (NULL for missing values).
    """

    column: str
    edges: tuple[float, ...] = ()


def quote_ident(name: str) -> str:
    """A column name quoted for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def duck_types(schema: pa.Schema) -> dict[str, str]:
    """Column name -> a DuckDB-style type name, for the columns of an Arrow schema."""
    import pyarrow as pa

    out = {}
    for f in schema:
        t = f.type
        if pa.types.is_boolean(t):
            out[f.name] = "BOOLEAN"
        elif pa.types.is_integer(t):
            out[f.name] = "BIGINT"
        elif pa.types.is_floating(t):
            out[f.name] = "DOUBLE"
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            out[f.name] = "VARCHAR"
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            out[f.name] = "LIST"
        else:
            out[f.name] = str(t).upper()
    return out


def is_numeric(kind: str) -> bool:
    """Whether a DuckDB type name is a number."""
    return kind.split("(")[0] in _NUMERIC


def _value(column: str, kind: str, value: Any) -> Any:
    if kind == "VARCHAR":
        if isinstance(value, float):
            # A number compared with a text column: the label 3 is stored as '3'.
            return str(int(value)) if math.isfinite(value) and value == int(value) else repr(value)
        return value
    if kind == "BOOLEAN":
        text = str(value).lower()
        if text in ("true", "1", "1.0"):
            return True
        if text in ("false", "0", "0.0"):
            return False
        raise QueryError(f"column {column!r} is true/false; compare it with true or false")
    if is_numeric(kind) and isinstance(value, str):
        raise QueryError(
            f"column {column!r} holds numbers; compare it with a number, not the text {value!r}"
        )
    return value


def _compile(node: Node, types: dict[str, str], params: list[Any], prefix: str) -> str:
    if isinstance(node, And | Or):
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(_compile(i, types, params, prefix) for i in node.items) + ")"
    if isinstance(node, Not):
        return f"(NOT {_compile(node.item, types, params, prefix)})"
    name = node.field.key
    kind = types[name]
    if kind == "LIST":
        raise QueryError(f"column {name!r} holds lists; slices compare single values")
    col = prefix + quote_ident(name)
    if isinstance(node, Compare):
        params.append(_value(name, kind, node.value))
        return f"({col} {node.op} ?)"
    if isinstance(node, InList):
        params.extend(_value(name, kind, v) for v in node.values)
        marks = ", ".join(["?"] * len(node.values))
        return f"({col} {'NOT ' if node.negate else ''}IN ({marks}))"
    assert isinstance(node, Like)
    params.append(node.pattern)
    return f"(CAST({col} AS VARCHAR) {'NOT ' if node.negate else ''}LIKE ?)"


def compile_where(
    where: str | None, types: dict[str, str], table: str | None = None
) -> tuple[str, list[Any]]:
    """``(sql, params)`` for a predicate over columns ``types``; TRUE for no predicate.

    An unknown column is a ``QueryError`` naming the columns there are.
    """
    node = parse_filter(where, columns=list(types))
    if node is None:
        return "TRUE", []
    params: list[Any] = []
    return _compile(node, types, params, f"{table}." if table else ""), params


def group_expr(key: GroupKey, table: str | None = None) -> tuple[str, list[Any]]:
    """The SQL expression (and its parameters) a ``GroupKey`` groups by."""
    col = (f"{table}." if table else "") + quote_ident(key.column)
    if not key.edges:
        return col, []
    # The bin number: how many edges the value has reached.
    parts = " + ".join(f"CAST({col} >= ? AS INTEGER)" for _ in key.edges)
    return (
        f"(CASE WHEN {col} IS NULL OR isnan(CAST({col} AS DOUBLE)) THEN NULL ELSE {parts} END)",
        list(key.edges),
    )
