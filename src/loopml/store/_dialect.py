"""Small helpers for the two dialects' differences, kept out of the store logic."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Dialect, Table

_UPSERTS: dict[tuple[Any, ...], Any] = {}


def upsert(conn: Connection, table: Table, keys: list[str], update: list[str] | None) -> Any:
    """An INSERT that, on a key conflict, updates ``update`` columns (or does nothing if None).

    Statements are built once per dialect and shape: building one costs more than running it.
    """
    cache_key = (
        conn.dialect.name,
        table.name,
        tuple(keys),
        None if update is None else tuple(update),
    )
    cached = _UPSERTS.get(cache_key)
    if cached is not None:
        return cached
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    stmt = insert(table)
    if update is None:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    else:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: getattr(stmt.excluded, c) for c in update}
        )
    _UPSERTS[cache_key] = stmt
    return stmt


def chunks(items: list[Any], size: int = 900) -> list[list[Any]]:
    """Split ``items`` for IN lists, under SQLite's bound-parameter limit."""
    return [items[i : i + size] for i in range(0, len(items), size)]


_SQL_CACHE: dict[tuple[Any, ...], tuple[str, tuple[str, ...] | None]] = {}


def sqlite_upsert_sql(
    dialect: Dialect,
    table: Table,
    keys: list[str],
    update: list[str] | None,
    columns: tuple[str, ...],
) -> str:
    """The SQL text SQLAlchemy compiles for :func:`upsert` on SQLite, with ``?`` for
    ``columns`` in order: written out directly because compiling costs about a millisecond a
    statement, paid again by every new process (a training script's first ingest)."""
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(c) for c in columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) "
    )
    if update is None:
        return sql + "DO NOTHING"
    return sql + "DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)


def bulk_upsert(
    conn: Connection,
    table: Table,
    keys: list[str],
    update: list[str] | None,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> None:
    """``upsert`` many rows given as tuples in ``columns`` order, straight to the driver.

    Builds and compiles the statement once per dialect; on the hot ingest path this skips
    SQLAlchemy's per-row parameter processing, which otherwise costs more than the insert.
    """
    if not rows:
        return
    from sqlalchemy import bindparam

    cache_key = (
        conn.dialect.name,
        table.name,
        tuple(keys),
        tuple(update or ()),
        update is None,
        columns,
    )
    cached = _SQL_CACHE.get(cache_key)
    if cached is None:
        if conn.dialect.name == "sqlite":
            cached = _SQL_CACHE[cache_key] = (
                sqlite_upsert_sql(conn.dialect, table, keys, update, columns),
                columns,
            )
        else:
            stmt = upsert(conn, table, keys, update).values({c: bindparam(c) for c in columns})
            compiled = stmt.compile(dialect=conn.dialect)
            positions = (
                tuple(compiled.positiontup)
                if compiled.positional and compiled.positiontup
                else None
            )
            cached = _SQL_CACHE[cache_key] = (compiled.string, positions)
    sql, positions = cached
    if positions is not None:
        if positions != columns:
            index = [columns.index(p) for p in positions]
            rows = [tuple(r[i] for i in index) for r in rows]
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [dict(zip(columns, r, strict=True)) for r in rows])


class Prepared:
    """A statement built with SQLAlchemy that runs on SQLite from its SQL text written out.

    Compiling a statement costs a new process 0.3-1.5 ms, and a training script's process
    compiles every statement of its run's ingest and end once: on SQLite the text (exactly
    what SQLAlchemy compiles, which a test checks) goes straight to the driver with its
    parameters in ``names`` order. Other dialects run ``other`` (or ``stmt``) as usual.
    ``fixed`` holds the values of parameters the statement binds itself (a LIMIT).
    """

    __slots__ = ("fixed", "names", "other", "sqlite_sql", "stmt")

    def __init__(
        self,
        stmt: Any,
        sqlite_sql: str,
        names: tuple[str, ...],
        fixed: dict[str, Any] | None = None,
        other: Any = None,
    ) -> None:
        self.stmt = stmt
        self.sqlite_sql = sqlite_sql
        self.names = names
        self.fixed = fixed or {}
        self.other = stmt if other is None else other

    def run(self, conn: Connection, params: dict[str, Any]) -> Any:
        """Execute with ``params`` (a list value fills an expanding ``IN``)."""
        if conn.dialect.name != "sqlite":
            return conn.execute(self.other, params)
        sql = self.sqlite_sql
        values: list[Any] = []
        for name in self.names:
            value = params[name] if name in params else self.fixed[name]
            if isinstance(value, (list, tuple)):
                if not value:  # SQLAlchemy renders an empty IN its own way
                    return conn.execute(self.stmt, params)
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * len(value)), 1)
                values.extend(value)
            else:
                values.append(value)
        return conn.exec_driver_sql(sql, tuple(values))


_INSERT_SQL: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[int, ...]]] = {}


def insert_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) into ``table``.

    On SQLite from the SQL text written out (what SQLAlchemy compiles for these columns, in the
    table's column order: a test compares them), so that a new process's first run insert
    compiles nothing; elsewhere through SQLAlchemy.
    """
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    cached = _INSERT_SQL.get((table.name, columns))
    if cached is None:
        cached = _INSERT_SQL[(table.name, columns)] = sqlite_insert_sql(
            conn.dialect, table, columns
        )
    sql, order = cached
    conn.exec_driver_sql(sql, [tuple(r[i] for i in order) for r in rows])


def sqlite_insert_sql(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[str, tuple[int, ...]]:
    """SQLite's INSERT text for ``columns`` of ``table``, and the positions of ``columns`` in
    its parameter order (the table's column order, as SQLAlchemy renders it)."""
    unknown = [c for c in columns if c not in table.c]
    if unknown:  # what SQLAlchemy's compiler would refuse as well
        raise ValueError(f"unconsumed column names for table {table.name}: {', '.join(unknown)}")
    ordered = [c.name for c in table.columns if c.name in columns]
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(c) for c in ordered)}) VALUES ({', '.join('?' for _ in ordered)})"
    )
    return sql, tuple(columns.index(c) for c in ordered)
