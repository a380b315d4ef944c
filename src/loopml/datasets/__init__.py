"""Datasets: immutable, content-addressed versions of items (Parquet files), with splits and lineage.

import loopml
v1 = loopml.datasets.create("digits", frame, split={"train": 0.8, "test": 0.2})
with loopml.init(project="digits") as run:
    train = run.use_dataset("digits@1").to_pandas(split="train")
"""

from loopml.datasets._api import (
    create,
    create_from_table,
    diff,
    get,
    inputs_of,
    list_datasets,
    use_dataset,
    used_by,
    versions,
)
from loopml.datasets._diff import DatasetDiff
from loopml.store import DatasetVersion

__all__ = [
    "DatasetDiff",
    "DatasetVersion",
    "create",
    "create_from_table",
    "diff",
    "get",
    "inputs_of",
    "list_datasets",
    "use_dataset",
    "used_by",
    "versions",
]
