"""Read one item of a dataset version by its row, without scanning the file.

Dataset files are written in small row groups, so an item is one row group read and a slice:
fast enough for the annotator queue whatever the dataset's size.
"""

from __future__ import annotations

import bisect
import threading
from pathlib import Path
from typing import Any

from loopml._errors import NotFoundError

__all__ = ["ItemReader"]


class ItemReader:
    """Rows of one Parquet file by index. Thread-safe; keeps the file's footer in memory."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self._file = pq.ParquetFile(path)
        meta = self._file.metadata
        self._starts = [0]
        for g in range(meta.num_row_groups):
            self._starts.append(self._starts[-1] + meta.row_group(g).num_rows)
        self._lock = threading.Lock()
        self._file_name = Path(path).name

    def row(self, idx: int) -> dict[str, Any]:
        """Row ``idx`` as a dict of column -> value."""
        group = bisect.bisect_right(self._starts, idx) - 1
        if not 0 <= idx < self._starts[-1]:
            raise NotFoundError(
                f"no row {idx!r} in {self._file_name}; rows are 0..{self._starts[-1] - 1}"
            )
        with self._lock:  # a ParquetFile is not safe to read from two threads at once
            table = self._file.read_row_group(group)
        return table.slice(idx - self._starts[group], 1).to_pylist()[0]
