"""Datasets: every source format, content addressing, splits, diff, lineage and bad input (both backends)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

import loopml
from loopml import ConflictError, NotFoundError, ValidationError
from loopml.datasets import (
    create,
    diff,
    get,
    inputs_of,
    list_datasets,
    use_dataset,
    used_by,
    versions,
)


def _frame(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"i{k}" for k in range(n)],
            "x": [float(k) for k in range(n)],
            "label": ["ab"[k % 2] for k in range(n)],
        }
    )


def test_create_from_dataframe_is_content_addressed(store: object) -> None:
    v1 = create("toy", _frame(), store=store)
    assert (v1.name, v1.number, v1.n_items, v1.label, v1.inputs) == ("toy", 1, 20, "label", ["x"])
    assert len(v1.digest) == 64 and v1.path.name == f"{v1.digest}.parquet"
    assert not os.access(v1.path, os.W_OK) or os.geteuid() == 0  # written read-only
    again = create("toy", _frame(), store=store)
    assert again.digest == v1.digest and again.number == 1  # same content: same version
    v2 = create("toy", _frame(21), store=store)
    assert v2.number == 2 and v2.parent == v1.digest
    assert [v.number for v in versions("toy", store=store)] == [1, 2]
    assert get("toy", store=store).number == 2
    assert get("toy@1", store=store).digest == v1.digest
    assert get("toy@latest", store=store).digest == v2.digest
    assert get(v1.digest[:10], store=store).ref == "toy@1"
    assert [v.ref for v in list_datasets(store=store)] == ["toy@2"]
    frame = v1.to_pandas()
    assert list(frame.columns) == ["id", "split", "label", "x"] and frame["id"].tolist()[:2] == [
        "i0",
        "i1",
    ]
    assert v1.sql("SELECT count(*) AS n FROM items WHERE label = 'a'")["n"].iloc[0] == 10


def test_same_content_under_another_name_is_a_conflict(store: object) -> None:
    create("one", _frame(), store=store)
    with pytest.raises(ConflictError, match="already stored as dataset 'one'"):
        create("two", _frame(), store=store)


def test_splits_by_id_hash_are_stable_across_versions(store: object) -> None:
    fractions = {"train": 0.7, "test": 0.3}
    v1 = create("s", _frame(200), split=fractions, store=store)
    assert set(v1.splits) == {"train", "test"} and 100 < v1.splits["train"] < 180
    bigger = pd.concat([_frame(200), pd.DataFrame({"id": ["new"], "x": [0.0], "label": ["a"]})])
    v2 = create("s", bigger, split=fractions, store=store)
    a = v1.to_pandas().set_index("id")["split"]
    b = v2.to_pandas().set_index("id")["split"]
    assert (b.loc[a.index] == a).all()
    assert len(v1.to_pandas(split="test")) == v1.splits["test"]
    with pytest.raises(ValidationError, match="no split 'dev'"):
        v1.to_arrow(split="dev")


def test_files_of_every_kind(store: object, tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "d.csv", index=False)
    assert create("csv", tmp_path / "d.csv", store=store).n_items == 20
    _frame(10).to_parquet(tmp_path / "d.parquet")
    assert create("pq", tmp_path / "d.parquet", store=store).n_items == 10
    lines = [
        '"just a text"',
        json.dumps({"text": "ünïcode ✓", "label": "pos"}),
        "",
        json.dumps("<b>html</b>"),
    ]
    (tmp_path / "t.jsonl").write_text("\n".join(lines), encoding="utf-8")
    texts = create("texts", tmp_path / "t.jsonl", store=store)
    assert texts.to_pandas()["text"].tolist() == ["just a text", "ünïcode ✓", "<b>html</b>"]
    for cls in ("cat", "dog"):
        (tmp_path / "img" / cls).mkdir(parents=True)
        (tmp_path / "img" / cls / f"{cls}1.png").write_bytes(b"\x89PNG fake " + cls.encode())
    images = create("images", tmp_path / "img", store=store)
    frame = images.to_pandas()
    assert frame["id"].tolist() == ["cat/cat1.png", "dog/dog1.png"]
    assert frame["label"].tolist() == ["cat", "dog"] and frame["image"][0].startswith(b"\x89PNG")
    records = create("records", [{"id": 1, "q": "x"}, {"id": 2, "q": "y"}], store=store)
    assert records.to_pandas()["id"].tolist() == ["1", "2"]


def test_diff_lists_added_removed_changed(store: object) -> None:
    a = _frame(5)
    b = a.copy()
    b.loc[1, "x"] = 99.0
    b.loc[2, "label"] = "z"
    b = pd.concat([b.drop(index=4), pd.DataFrame({"id": ["new"], "x": [1.0], "label": ["a"]})])
    create("d", a, store=store)
    create("d", b, store=store)
    d = diff("d@1", "d@2", store=store)
    assert d.added == ["new"] and d.removed == ["i4"]
    assert d.changed == {"i1": ["x"], "i2": ["label"]}
    assert diff("d@1", "d@1", store=store).unchanged


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        (pd.DataFrame({"x": []}), {}, "at least one item"),
        (pd.DataFrame({"id": ["a", "a"], "x": [1, 2]}), {}, "ids must be unique"),
        (pd.DataFrame({"id": ["a", None], "x": [1, 2]}), {}, "empty ids"),
        (pd.DataFrame({"x": [1, "two"]}), {}, "one type"),
        (pd.DataFrame({"x": [1]}), {"split": "nope"}, "split column 'nope'"),
        (pd.DataFrame({"x": [1]}), {"split": {"train": -1}}, "positive numbers"),
        (pd.DataFrame({"x": [1]}), {"metadata": ["m"]}, "metadata columns"),
        ("missing.csv", {}, "no file or folder"),
        (42, {}, "cannot make a dataset from int"),
    ],
)
def test_bad_input_is_rejected_clearly(
    store: object, data: object, kwargs: dict, match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        create("bad", data, store=store, **kwargs)
    assert list_datasets(store=store) == []


def test_bad_names_and_refs(store: object, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="dataset name"):
        create("../evil", _frame(), store=store)
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValidationError, match="unknown file type"):
        create("x", tmp_path / "x.txt", store=store)
    with pytest.raises(NotFoundError, match="no dataset version 'nope'"):
        get("nope", store=store)
    create("toy", _frame(), store=store)
    with pytest.raises(NotFoundError, match="not understood"):
        get("toy@v1", store=store)
    with pytest.raises(NotFoundError, match="no dataset version 'toy@7'"):
        get("toy@7", store=store)
    with pytest.raises(ValidationError, match="query failed"):
        get("toy", store=store).sql("SELECT nope FROM items")


def test_run_use_dataset_records_lineage(session: object) -> None:
    store = session.store  # type: ignore[attr-defined]
    v = create("toy", _frame())
    with loopml.init("p") as run:
        got = run.use_dataset("toy@1")
        run.use_dataset(v)  # twice: recorded once
    assert got.digest == v.digest
    users = used_by("toy@1")
    assert [u["id"] for u in users] == [run.id] and users[0]["project"] == "p"
    assert [x.ref for x in inputs_of(run.id[:6])] == ["toy@1"]
    with pytest.raises(NotFoundError, match="no run"):
        use_dataset("0" * 16, v, store=store)


def test_the_same_version_created_at_once_is_stored_once(store: object) -> None:
    import threading

    start = threading.Barrier(4)
    got: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            got.append(create("same", _frame(50), store=store).ref)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert got == ["same@1"] * 4
    assert [v.number for v in versions("same", store=store)] == [1]
