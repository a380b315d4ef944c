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
