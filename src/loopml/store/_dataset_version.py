"""``DatasetVersion``: a frozen, content-addressed snapshot of a dataset, read with pyarrow or DuckDB.

The store's record of a version (``store.datasets`` returns it); re-exported as
``loopml.datasets.DatasetVersion``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["DatasetVersion"]


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset: its items live in one Parquet file named by its digest.

    Columns: ``id``, ``split``, ``label`` (when labeled), then the inputs and metadata columns.
    """

    name: str
    number: int
    digest: str
    n_items: int
    inputs: list[str]
    metadata: list[str]
    label: str | None
    types: dict[str, str]
    splits: dict[str, int]
    parent: str | None
    note: str | None
    source: dict[str, Any]
    created_at: float
    path: Path = field(repr=False)

    @classmethod
    def from_row(cls, row: dict[str, Any], path: Path) -> DatasetVersion:
        """Build from a version's decoded fields (``columns`` holds the column roles)."""
        cols = row["columns"]
        return cls(
            name=row["name"],
            number=row["number"],
            digest=row["digest"],
            n_items=row["n_items"],
            inputs=list(cols.get("inputs", [])),
            metadata=list(cols.get("metadata", [])),
            label=cols.get("label"),
            types=dict(cols.get("types", {})),
            splits=dict(row["splits"]),
            parent=row["parent"],
            note=row["note"],
            source=row["source"],
            created_at=row["created_at"],
            path=path,
        )

    @property
    def ref(self) -> str:
        """``name@number``, the short way to name this version."""
        return f"{self.name}@{self.number}"

    def __str__(self) -> str:
        return f"{self.ref} ({self.digest[:12]}, {self.n_items} items)"

    def _check_split(self, split: str | None) -> None:
        if split is not None and split not in self.splits:
            raise ValidationError(
                f"{self.ref} has no split {split!r}; its splits are {sorted(self.splits)}"
            )

    def to_arrow(self, split: str | None = None, columns: list[str] | None = None) -> pa.Table:
        """The items as an Arrow table (one split, some columns, or all)."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        self._check_split(split)
        wanted = None if columns is None else list(dict.fromkeys([*columns, "split"]))
        # ParquetFile.read skips the dataset layer of read_table: a third less CPU on a file of
        # many row groups, the same table.
        with pq.ParquetFile(self.path) as f:
            table = f.read(columns=wanted)
        if split is not None:
            mask = pc.equal(table["split"], split)
            # Filtering copies every column; a split that holds every item needs no copy.
            if pc.sum(mask).as_py() != table.num_rows:
                table = table.filter(mask)
        if columns is not None and "split" not in columns:
            table = table.drop(["split"])
        return table

    def item(self, item_id: str, columns: list[str] | None = None) -> dict[str, Any]:
        """One item by id, as a dict of its columns (an image's bytes, a text, its metadata).

        Reads only the row groups whose id range can hold it. Raises ``NotFoundError`` when the
        version has no such item.
        """
        import pyarrow.parquet as pq

        from loopml._errors import NotFoundError

        if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
            raise ValidationError(f"an item id is a string such as '17', not {item_id!r}")
        if columns is not None:
            unknown = [c for c in columns if c not in self.types and c not in ("id", "split")]
            if unknown:
                raise ValidationError(
                    f"{self.ref} has no columns {unknown}; its columns are {sorted(self.types)}"
                )
            columns = list(dict.fromkeys(["id", *columns]))
        table = pq.read_table(self.path, columns=columns, filters=[("id", "==", str(item_id))])
        if table.num_rows == 0:
            raise NotFoundError(
                f"{self.ref} has no item {str(item_id)!r}; list its ids with "
                "version.to_pandas(columns=['id'])"
            )
        return table.slice(0, 1).to_pylist()[0]

    def to_pandas(self, split: str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """The items as a pandas DataFrame."""
        return self.to_arrow(split, columns).to_pandas()

    def sql(self, query: str) -> pd.DataFrame:
        """Run a DuckDB query over the items, which it sees as the table ``items``.

        ``version.sql("SELECT label, count(*) AS n FROM items GROUP BY label")``
        """
        import duckdb

        if not isinstance(query, str) or not query.strip():
            raise ValidationError(
                f"a query is SQL text such as 'SELECT count(*) FROM items', not {query!r}"
            )
        con = duckdb.connect()
        try:
            # The view is made from a relation, not SQL text, so the path is never spliced in.
            con.read_parquet(str(self.path)).create_view("items")
            return con.execute(query).df()
        except duckdb.Error as exc:
            raise ValidationError(f"query failed on {self.ref}: {exc}") from None
        finally:
            con.close()
