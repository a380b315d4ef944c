"""Compile a parsed filter and sort into one SQL query over runs (bound parameters only).

Each metric, param or tag a query names becomes one outer join on its table, keyed by
(run, key); a metric compares its summary's last value. One query returns the page of run ids,
whatever the number of runs, and the records are then loaded in bulk.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, false, func, not_, or_, select, true

from loopml._errors import QueryError
from loopml.store._query import And, Compare, Field, InList, Like, Node, Not, Or, SortKey
from loopml.store._schema_runs import (
    FLAG_NAN,
    metric_keys,
    metric_summary,
    params,
    projects,
    runs,
    tags,
)

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _fields(node: Node | None, out: set[Field]) -> set[Field]:
    if node is None:
        return out
    if isinstance(node, (And, Or)):
        for item in node.items:
            _fields(item, out)
    elif isinstance(node, Not):
        _fields(node.item, out)
    else:
        out.add(node.field)
    return out


class _Compiler:
    def __init__(self, conn: Connection, fields: set[Field]) -> None:
        names = sorted({f.key for f in fields if f.kind == "metric"})
        ids: dict[str, int] = {}
        if names:
            ids = {
                r.name: r.id
                for r in conn.execute(
                    select(metric_keys.c.id, metric_keys.c.name).where(
                        metric_keys.c.name.in_(names)
                    )
                )
            }
        self.aliases: dict[Field, Any] = {}
        self.joins: list[tuple[Any, ColumnElement[bool]]] = []
        for f in sorted(fields, key=str):
            if f.kind == "metric":
                a = metric_summary.alias(f"m{len(self.aliases)}")
                on = and_(a.c.run_id == runs.c.id, a.c.key_id == ids.get(f.key, -1))
            elif f.kind == "param":
                a = params.alias(f"p{len(self.aliases)}")
                on = and_(a.c.run_id == runs.c.id, a.c.key == f.key)
            elif f.kind == "tag":
                a = tags.alias(f"t{len(self.aliases)}")
                on = and_(a.c.run_id == runs.c.id, a.c.key == f.key)
            else:
                continue
            self.aliases[f] = a
            self.joins.append((a, on))

    def apply_joins(self, query: Select[Any]) -> Select[Any]:
        source = runs.join(projects, projects.c.id == runs.c.project_id)
        for a, on in self.joins:
            source = source.outerjoin(a, on)
        return query.select_from(source)

    def attr(self, name: str) -> Any:
        if name == "project":
            return projects.c.name
        if name == "duration":
            return func.coalesce(runs.c.ended_at, runs.c.heartbeat_at) - runs.c.created_at
        return runs.c[name]

    def compile(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self.compile(i) for i in node.items))
        if isinstance(node, Or):
            return or_(*(self.compile(i) for i in node.items))
        if isinstance(node, Not):
            return not_(self.compile(node.item))
        if isinstance(node, Compare):
            return self.compare(node.field, node.op, node.value)
        if isinstance(node, InList):
            cond = or_(*(self.compare(node.field, "=", v) for v in node.values))
            return not_(cond) if node.negate else cond
        if isinstance(node, Like):
            if node.field.kind == "metric":
                raise QueryError(f"'like' compares text, and {node.field} is a number")
            col = self.text_column(node.field)
            cond = col.like(node.pattern)
            return not_(cond) if node.negate else cond
        raise QueryError(f"cannot compile {node!r}")  # pragma: no cover

    def text_column(self, f: Field) -> Any:
        if f.kind == "attr":
            return self.attr(f.key)
        return self.aliases[f].c.value

    def compare(self, f: Field, op: str, value: Any) -> ColumnElement[bool]:
        if isinstance(value, float) and math.isnan(value):
            if f.kind != "metric" or op not in ("=", "!="):
                raise QueryError(
                    f"nan can only be tested with = or != on a metric, not with {f} {op}"
                )
            flag = self.aliases[f].c.last_flag
            return flag == FLAG_NAN if op == "=" else flag != FLAG_NAN
        col: Any
        if f.kind == "metric":
            if isinstance(value, str):
                raise QueryError(f"{f} is a number; compare it with a number, not {value!r}")
            col = self.aliases[f].c.last
        elif f.kind == "param":
            a = self.aliases[f]
            col = a.c.num if isinstance(value, float) else a.c.value
        elif f.kind == "tag":
            col, value = self.aliases[f].c.value, _text(value)
        elif f.key in _TIME_ATTRS:
            if isinstance(value, str):
                raise QueryError(
                    f"{f} is a time in seconds; compare it with a number, not {value!r}"
                )
            col = self.attr(f.key)
        else:
            col, value = self.attr(f.key), _text(value)
        return _OPS[op](col, value)

    def order(self, sort: list[SortKey]) -> list[Any]:
        clauses: list[Any] = []
        for key in sort:
            if key.field.kind == "param":
                a = self.aliases[key.field]
                cols = [a.c.num, a.c.value]
            elif key.field.kind == "metric":
                cols = [self.aliases[key.field].c.last]
            elif key.field.kind == "tag":
                cols = [self.aliases[key.field].c.value]
            else:
                cols = [self.attr(key.field.key)]
            for c in cols:
                clauses.append((c.desc() if key.descending else c.asc()).nulls_last())
        clauses.append(runs.c.created_at.desc())
        clauses.append(runs.c.id)
        return clauses


_TIME_ATTRS = ("created_at", "ended_at", "heartbeat_at", "duration")


def _text(value: str | float) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if value.is_integer() else repr(value)


def _where(
    project_ids: list[int] | None, node: Node | None, comp: _Compiler
) -> ColumnElement[bool]:
    conds: list[ColumnElement[bool]] = []
    if project_ids is not None:
        conds.append(runs.c.project_id.in_(project_ids) if project_ids else false())
    if node is not None:
        conds.append(comp.compile(node))
    return and_(true(), *conds)


def search_ids(
    conn: Connection,
    project_ids: list[int] | None,
    node: Node | None,
    sort: list[SortKey],
    limit: int | None,
    offset: int,
) -> list[str]:
    """The ids of the runs that match, in order, one page."""
    fields = _fields(node, set()) | {k.field for k in sort}
    comp = _Compiler(conn, fields)
    query = comp.apply_joins(select(runs.c.id)).where(_where(project_ids, node, comp))
    query = query.order_by(*comp.order(sort)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [r[0] for r in conn.execute(query)]


def count(conn: Connection, project_ids: list[int] | None, node: Node | None) -> int:
    """How many runs match."""
    comp = _Compiler(conn, _fields(node, set()))
    query = comp.apply_joins(select(func.count(runs.c.id))).where(_where(project_ids, node, comp))
    return int(conn.execute(query).scalar() or 0)
