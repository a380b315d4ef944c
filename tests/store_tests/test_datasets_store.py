"""The datasets store surface (``store.datasets``) on SQLite and PostgreSQL: versions, lineage,
content addressing, bad input and concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest

from loopml import ConflictError, NotFoundError, ValidationError
from loopml.store import DatasetUse, DatasetVersion, Store

ROLES = {"id": "id", "label": "label", "inputs": ["x"], "metadata": [], "types": {}}


def _table(n: int = 4, shift: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": [f"i{k}" for k in range(n)],
            "split": ["train"] * (n - 1) + ["test"],
            "label": ["a", "b"] * (n // 2),
            "x": [float(k + shift) for k in range(n)],
        }
    )


def test_versions_are_numbered_content_addressed_and_read_only(store: Store) -> None:
    v1, new1 = store.datasets.add_version("toy", _table(), ROLES, {"kind": "test"}, "first")
    again, new_again = store.datasets.add_version("toy", _table(), ROLES, {"kind": "test"})
    v2, new2 = store.datasets.add_version("toy", _table(shift=1), ROLES, {"kind": "test"})
    assert (new1, new_again, new2) == (True, False, True)
    assert isinstance(v1, DatasetVersion) and again == v1
    assert (v1.number, v2.number, v2.parent) == (1, 2, v1.digest)
    assert v1.splits == {"test": 1, "train": 3} and v1.n_items == 4 and v1.note == "first"
    assert v1.path == store.datasets.file(v1.digest) and v1.path.exists()
    assert not v1.path.stat().st_mode & 0o222  # nobody rewrites a version in place
    assert not list(v1.path.parent.glob(".*.tmp"))  # no temporary file left behind
    assert v1.to_pandas()["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ConflictError, match="already stored as dataset 'toy' version 1"):
        store.datasets.add_version("other", _table(), ROLES, {})


def test_references_resolve_by_name_number_latest_and_digest(store: Store) -> None:
    v1, _ = store.datasets.add_version("toy", _table(), ROLES, {})
    v2, _ = store.datasets.add_version("toy", _table(shift=1), ROLES, {})
    assert store.datasets.get("toy") == v2 == store.datasets.get("toy@latest")
    assert store.datasets.get("toy@1") == v1 == store.datasets.get(v1.digest[:10])
    assert store.datasets.get(v1) is v1
    assert [v.number for v in store.datasets.versions("toy")] == [1, 2]
    assert store.datasets.latest() == [v2]


@pytest.mark.parametrize(
    ("ref", "error", "match"),
    [
        ("", ValidationError, "dataset reference is a string"),
        (3, ValidationError, "dataset reference is a string"),
        ("toy@one", NotFoundError, "not understood"),
        ("toy@9", NotFoundError, "no dataset version 'toy@9'"),
        ("nope", NotFoundError, "no dataset version 'nope'"),
    ],
)
def test_bad_references_are_rejected(store: Store, ref: object, error: type, match: str) -> None:
    store.datasets.add_version("toy", _table(), ROLES, {})
    with pytest.raises(error, match=match):
        store.datasets.get(ref)  # type: ignore[arg-type]


def test_bad_input_stores_nothing(store: Store) -> None:
    with pytest.raises(ValidationError, match="first columns are 'id' and 'split'"):
        store.datasets.add_version("toy", pa.table({"x": [1]}), ROLES, {})
    with pytest.raises(ValidationError, match="first columns"):
        store.datasets.add_version("toy", {"id": ["a"]}, ROLES, {})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="64 lowercase hex digits"):
        store.datasets.file("../../etc/passwd")
    with pytest.raises(NotFoundError, match="no dataset named 'toy'"):
        store.datasets.versions("toy")
    assert store.datasets.latest() == []
    assert not (store.data_dir / "datasets").exists()


def test_lineage_records_each_run_once(session: object, store: Store) -> None:
    import loopml

    v, _ = store.datasets.add_version("toy", _table(), ROLES, {})
    with loopml.init(project="p", name="reader") as run:
        run.use_dataset("toy@1")
        run.use_dataset(v)  # the same version again: still one record
    users = store.datasets.users(v.digest)
    assert users == [DatasetUse(run.id, "reader", "finished", "p", users[0].created_at)]
    assert store.datasets.inputs_of(run.id) == [v]
    with pytest.raises(NotFoundError, match="no run with id 'nope'"):
        store.datasets.record_use("nope", "toy@1")
    with pytest.raises(NotFoundError, match="no dataset version 'toy@5'"):
        store.datasets.record_use(run.id, "toy@5")
    assert store.datasets.users(v.digest) == users


def test_sql_reads_the_file_without_splicing_its_path(tmp_path: Path) -> None:
    from loopml._config import Settings

    # A quote in the data folder would break SQL built by pasting the path in.
    store = Store(Settings(data_dir=tmp_path / "it's data"))
    try:
        v, _ = store.datasets.add_version("toy", _table(), ROLES, {})
        frame = v.sql("SELECT split, count(*) AS n FROM items GROUP BY split ORDER BY split")
        assert frame.to_dict("list") == {"split": ["test", "train"], "n": [1, 3]}
        with pytest.raises(ValidationError, match="query failed on toy@1"):
            v.sql("SELECT nope FROM items")
        with pytest.raises(ValidationError, match="SQL text"):
            v.sql("")
    finally:
        store.close()


def test_two_writers_adding_the_same_content_get_one_version(store: Store) -> None:
    other = Store(store.settings)
    start = threading.Barrier(2)
    got: list[tuple[DatasetVersion, bool]] = []
    errors: list[BaseException] = []

    def work(s: Store, shift: int) -> None:
        try:
            start.wait()
            got.append(s.datasets.add_version("toy", _table(shift=shift), ROLES, {}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(s, 0)) for s in (store, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        other.close()
    assert not errors, errors
    assert sorted(new for _, new in got) == [False, True]
    assert got[0][0] == got[1][0]
    assert [v.number for v in store.datasets.versions("toy")] == [1]
