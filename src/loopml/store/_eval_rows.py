"""``EvaluationRows``: one DuckDB connection over an evaluation's per-example Parquet rows.

Opened by ``EvaluationStore.rows``; every query binds its values as parameters and checks the
column names it quotes against the file's columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError
from loopml.store._duck import GroupKey, arrow, compile_where, group_expr, quote_ident

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from loopml.store._evaluations import EvaluationRecord

__all__ = ["EvaluationRows"]


class EvaluationRows:
    """Queries over one evaluation's rows (view ``r0``) and optionally a second's (``r1``).

    Not thread-safe: one connection, used by one caller for a sequence of queries.
    """

    def __init__(
        self,
        record: EvaluationRecord,
        other: EvaluationRecord | None,
        con: duckdb.DuckDBPyConnection,
        tag_members: Callable[[str], list[list[str]]],
    ) -> None:
        self.record = record
        self.other = other
        self._con = con
        self._tag_members = tag_members
        self._tags_registered = False
        self._aligned: bool | None = None  # whether r0 and r1 hold the same ids in one order

    def _unknown(self, names: Sequence[str]) -> None:
        unknown = [c for c in names if c not in self.record.columns]
        if unknown:
            raise ValidationError(
                f"unknown columns {unknown}; the columns are: {', '.join(self.record.columns)}"
            )

    def _register_tags(self) -> None:
        import pyarrow as pa

        if self._tags_registered:
            return
        members = self._tag_members(self.record.id)
        schema = pa.schema([("tag", pa.string()), ("item_id", pa.string())])
        self._con.register("tag_members", pa.table(members, schema=schema))
        self._tags_registered = True

    def read(
        self,
        where: str | None = None,
        *,
        columns: Sequence[str] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> pa.Table:
        """Rows matching a predicate (filter language over the columns), some columns, a page."""
        cols = list(columns) if columns is not None else list(self.record.columns)
        self._unknown([*cols, *([order_by] if order_by else [])])
        sql_where, params = compile_where(where, self.record.columns)
        sql = f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM r0 WHERE {sql_where}"
        if order_by:
            sql += f" ORDER BY {quote_ident(order_by)} {'DESC' if descending else 'ASC'}, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return arrow(self._con, sql, params)

    def grouped_counts(
        self,
        group_sets: Sequence[Sequence[GroupKey]],
        where: str | None = None,
        *,
        by_tag: bool = False,
    ) -> list[pa.Table]:
        """Counts per group, one table per set of group keys, all in one DuckDB query.

        Each table has the key columns ``k0, k1, ...`` (a binned key gives its bin number), then
        ``n`` (rows), ``errors`` (rows not correct; 0 for regression), ``loss_sum``, ``sq_sum`` and
        ``abs_sum`` (of ``error`` for regression). ``by_tag`` puts the tag name first as ``tag``,
        one group per tag (an example with two tags counts in both). An empty set counts all rows.
        """
        source = "r0"
        if by_tag:
            self._register_tags()
            source = "r0 JOIN tag_members ON tag_members.item_id = r0.id"
        return _grouping_sets(
            self._con, self.record.columns, source, _aggregates(self.record), group_sets, where,
            by_tag, None,
        )  # fmt: skip

    def parent_counts(self, parents: Sequence[str], keys: Sequence[GroupKey]) -> list[pa.Table]:
        """For each key, counts per (parent, key value): one scan for many parent slices.

        A row counts once under every parent predicate it matches (column ``parent``, the
        index into ``parents``); one table per key, columns ``parent``, ``k0``, ``n``, ``errors``...
        """
        if not parents:
            return [_empty_parent_table() for _ in keys]
        parts: list[str] = []
        cond_params: list[Any] = []
        for i, predicate in enumerate(parents):
            cond, p = compile_where(predicate, self.record.columns)
            parts.append(f"SELECT {i} AS parent, * FROM r0 WHERE {cond}")
            cond_params += p
        # Each row once per parent it belongs to: one filtered scan per parent, stacked.
        source = f"({' UNION ALL '.join(parts)}) AS m"
        return _grouping_sets(
            self._con, self.record.columns, source, _aggregates(self.record),
            [[k] for k in keys], None, False, None, ("parent", "parent"), cond_params,
        )  # fmt: skip

    def counts(self, predicates: Sequence[str], where: str | None = None) -> list[tuple[int, int]]:
        """(rows, errors) for each predicate, among the rows matching ``where``: one scan."""
        if not predicates:
            return []
        sql_where, params = compile_where(where, self.record.columns)
        parts: list[str] = []
        part_params: list[Any] = []
        err = "CASE WHEN correct THEN 0 ELSE 1 END" if self.record.task == "classification" else "0"
        for predicate in predicates:
            cond, p = compile_where(predicate, self.record.columns)
            parts.append(f"count(*) FILTER (WHERE {cond}), sum({err}) FILTER (WHERE {cond})")
            part_params += p + p
        sql = f"SELECT {', '.join(parts)} FROM r0 WHERE {sql_where}"
        row = self._con.execute(sql, part_params + params).fetchall()[0]
        return [(int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i in range(len(predicates))]

    def _check_pair(self) -> EvaluationRecord:
        ra, rb = self.record, self.other
        if rb is None:
            raise ValidationError("paired queries need two evaluations: rows(a, pair=b)")
        if ra.dataset_digest != rb.dataset_digest or ra.split != rb.split:
            raise ValidationError(
                "a comparison needs two evaluations of the same dataset version and split; "
                f"{ra.id[:8]} is on {ra.dataset_digest[:12]} split {ra.split!r}, "
                f"{rb.id[:8]} on {rb.dataset_digest[:12]} split {rb.split!r}"
            )
        if ra.task != "classification" or rb.task != "classification":
            raise ValidationError("paired counts compare correct and wrong: classification only")
        return rb

    def _pair_source(self) -> str:
        """The two evaluations' rows side by side. Evaluations of one dataset version's split
        store their rows in the items' order, so a positional join pairs them without hashing
        a million ids; it is used only once a scan has checked every row's ids match."""
        if self._aligned is None:
            rb = self._check_pair()
            same = False
            if rb.n_rows == self.record.n_rows:
                mismatched = self._con.execute(
                    "SELECT count(*) FROM r0 POSITIONAL JOIN r1 WHERE r0.id IS DISTINCT FROM r1.id"
                ).fetchall()[0][0]
                same = int(mismatched) == 0
            self._aligned = same
        return "r0 POSITIONAL JOIN r1" if self._aligned else "r0 JOIN r1 ON r0.id = r1.id"

    def paired_counts(
        self,
        group_sets: Sequence[Sequence[GroupKey]],
        where: str | None = None,
        *,
        by_tag: bool = False,
    ) -> list[pa.Table]:
        """Paired counts of the two evaluations of the same rows, per group (``r0``'s columns).

        Columns ``k0...``, ``n``, ``a_errors``, ``b_errors``, ``fixed`` (wrong in ``a``, right in
        ``b``) and ``broken`` (right in ``a``, wrong in ``b``). ``by_tag`` groups by ``a``'s tags
        first (column ``tag``).
        """
        self._check_pair()
        aggs = (
            "count(*) AS n, sum(CASE WHEN NOT r0.correct THEN 1 ELSE 0 END) AS a_errors, "
            "sum(CASE WHEN NOT r1.correct THEN 1 ELSE 0 END) AS b_errors, "
            "sum(CASE WHEN NOT r0.correct AND r1.correct THEN 1 ELSE 0 END) AS fixed, "
            "sum(CASE WHEN r0.correct AND NOT r1.correct THEN 1 ELSE 0 END) AS broken"
        )
        source = self._pair_source()
        if by_tag:
            self._register_tags()
            source += " JOIN tag_members ON tag_members.item_id = r0.id"
        return _grouping_sets(
            self._con, self.record.columns, source, aggs, group_sets, where, by_tag, "r0"
        )

    def paired_rows(self, which: str, *, limit: int | None = 100) -> pa.Table:
        """The examples ``b`` fixed (``which="fixed"``) or broke (``"broken"``) relative to ``a``."""
        if which not in ("fixed", "broken"):
            raise ValidationError(f"which must be 'fixed' or 'broken', not {which!r}")
        self._check_pair()
        cond = (
            "NOT r0.correct AND r1.correct" if which == "fixed" else "r0.correct AND NOT r1.correct"
        )
        sql = (
            "SELECT r0.id, r0.truth, r0.prediction AS a_prediction, r1.prediction AS b_prediction, "
            "r0.confidence AS a_confidence, r1.confidence AS b_confidence FROM "
            f"{self._pair_source()} WHERE {cond} ORDER BY r0.id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return arrow(self._con, sql)

    def quantiles(self, column: str, qs: Sequence[float]) -> list[float]:
        """Quantiles of a numeric column (NULLs and NaN left out)."""
        self._unknown([column])
        c = quote_ident(column)
        row = self._con.execute(
            f"SELECT quantile_cont({c}, ?::DOUBLE[]) FROM r0 WHERE NOT isnan({c}::DOUBLE)",
            [list(qs)],
        ).fetchall()[0]
        return [] if row[0] is None else [float(v) for v in row[0]]

    def distinct_counts(self, columns: Sequence[str]) -> dict[str, int]:
        """How many distinct non-null values each column has (one scan)."""
        if not columns:
            return {}
        self._unknown(columns)
        parts = ", ".join(f"approx_count_distinct({quote_ident(c)})" for c in columns)
        row = self._con.execute(f"SELECT {parts} FROM r0").fetchall()[0]
        return {c: int(v) for c, v in zip(columns, row, strict=True)}

    def missing_ids(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        """How many of ``ids`` are not rows of the evaluation, and up to five of them."""
        import pyarrow as pa

        self._con.register("wanted", pa.table({"id": pa.array(list(ids), pa.string())}))
        try:
            sql = "SELECT id FROM wanted WHERE id NOT IN (SELECT id FROM r0)"
            n = int(self._con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])
            some = [r[0] for r in self._con.execute(f"{sql} ORDER BY id LIMIT 5").fetchall()]
        finally:
            self._con.unregister("wanted")
        return n, some


def _grouping_sets(
    con: duckdb.DuckDBPyConnection,
    columns: dict[str, str],
    source: str,
    aggs: str,
    group_sets: Sequence[Sequence[GroupKey]],
    where: str | None,
    by_tag: bool,
    table: str | None,
    lead: tuple[str, str] | None = None,
    source_params: Sequence[Any] = (),
) -> list[pa.Table]:
    """One query for every set of group keys (GROUPING SETS), split back into one table per set.

    Each distinct key is one column ``gI``; ``GROUPING(...)`` tells which set a row belongs to.
    ``lead`` (expression, name) is a column every set groups by first (the tag, the parent).
    """
    if by_tag:
        lead = ("tag_members.tag", "tag")
    # DuckDB's GROUPING() takes at most 64 columns: more keys take more queries.
    chunks: list[list[Sequence[GroupKey]]] = [[]]
    seen: set[GroupKey] = set()
    for keys in group_sets:
        new = {k for k in keys if k not in seen}
        if chunks[-1] and len(seen | new) > _MAX_GROUPING:
            chunks.append([])
            seen = set()
        chunks[-1].append(keys)
        seen |= set(keys)
    if len(chunks) > 1:
        out: list[pa.Table] = []
        for part in chunks:
            out += _grouping_sets(
                con, columns, source, aggs, part, where, False, table, lead, source_params
            )
        return out
    import pyarrow as pa
    import pyarrow.compute as pc

    sql_where, params = compile_where(where, columns, table=table)
    distinct: list[GroupKey] = []
    for keys in group_sets:
        for key in keys:
            if key.column not in columns:
                raise ValidationError(
                    f"unknown column {key.column!r}; the columns are: {', '.join(columns)}"
                )
            if key not in distinct:
                distinct.append(key)
    selects: list[str] = []
    key_params: list[Any] = []
    for i, key in enumerate(distinct):
        expr, p = group_expr(key, table=table)
        selects.append(f"{expr} AS g{i}")
        key_params += p
    tag = [lead[0]] if lead else []
    names = [f"g{i}" for i in range(len(distinct))]
    members = [tuple(distinct.index(k) for k in keys) for keys in group_sets]
    if len(set(members)) == 1 and len(members) >= 1:
        sets_sql = ", ".join([*tag, *(names[i] for i in members[0])])
        group_by = f" GROUP BY {sets_sql}" if sets_sql else ""
        gid = "0 AS gid"
    else:
        sets_sql = ", ".join("(" + ", ".join([*tag, *(names[i] for i in m)]) + ")" for m in members)
        group_by = f" GROUP BY GROUPING SETS ({sets_sql})"
        gid = f"GROUPING({', '.join(names)}) AS gid" if names else "0 AS gid"
    head = [*([f"{lead[0]} AS {lead[1]}"] if lead else []), *selects, gid, aggs]
    sql = f"SELECT {', '.join(head)} FROM {source} WHERE {sql_where}{group_by}"
    result = arrow(con, sql, [*key_params, *source_params, *params])
    out = []
    m = len(distinct)
    for member in members:
        want = (
            0
            if len(set(members)) == 1
            else sum(1 << (m - 1 - i) for i in range(m) if i not in member)
        )
        part = result.filter(pc.equal(result["gid"], pa.scalar(want, result["gid"].type)))
        cols = {**({lead[1]: part[lead[1]]} if lead else {})}
        for j, i in enumerate(member):
            cols[f"k{j}"] = part[f"g{i}"]
        for name in part.column_names:
            if name not in ("gid", *(lead[1:] if lead else ())) and not (
                name[0] == "g" and name[1:].isdigit()
            ):
                cols[name] = part[name]
        out.append(pa.table(cols))
    return out


_MAX_GROUPING = 60


def _empty_parent_table() -> pa.Table:
    import pyarrow as pa

    return pa.table({"parent": pa.array([], pa.int64()), "k0": pa.array([], pa.int64()),
                     "n": pa.array([], pa.int64()), "errors": pa.array([], pa.int64())})  # fmt: skip


def _aggregates(rec: EvaluationRecord) -> str:
    if rec.task == "classification":
        return (
            "count(*) AS n, sum(CASE WHEN correct THEN 0 ELSE 1 END) AS errors, "
            "sum(loss) AS loss_sum, 0.0 AS sq_sum, 0.0 AS abs_sum"
        )
    return (
        "count(*) AS n, 0 AS errors, sum(loss) AS loss_sum, "
        "sum(error * error) AS sq_sum, sum(abs(error)) AS abs_sum"
    )
