"""Two annotators labeling one batch at once lose and duplicate nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pandas as pd

from loopml import ConflictError
from loopml.datasets import create
from loopml.labeling import create_project

N_ITEMS = 60


def test_two_annotators_on_one_batch_at_once(store: object) -> None:
    v = create(
        "batch",
        pd.DataFrame({"id": [f"b{i}" for i in range(N_ITEMS)], "x": range(N_ITEMS)}),
        store=store,
    )
    p = create_project("batch-labels", v, ["yes", "no"], overlap=2, store=store)
    p.publish_guidelines("g", note="v1")
    p.add_annotators(["ann", "bo"])
    p.assign(limit=N_ITEMS)
    start = threading.Barrier(4)
    conflicts: list[str] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        # Two workers per annotator (two browser tabs): they race for the same queue entries.
        try:
            start.wait()
            while (q := p.next_item(name)) is not None:
                try:
                    p.annotate(name, q.item_id, "yes" if hash(q.item_id) % 2 else "no")
                except ConflictError:
                    conflicts.append(q.item_id)  # the other tab got there first: fine
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("ann", "bo", "ann", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    arrays = p.store.labeling.annotations.arrays(p.id)
    pairs = list(zip(arrays["item"].tolist(), arrays["annotator"].tolist(), strict=False))
    assert len(pairs) == 2 * N_ITEMS  # nothing lost
    assert len(set(pairs)) == len(pairs)  # nothing duplicated
    assert p.queue_counts() == {"pending": 0, "done": 2 * N_ITEMS, "skipped": 0}
    assert {a["name"]: a["labels"] for a in p.annotators()} == {"ann": N_ITEMS, "bo": N_ITEMS}
