"""The labeling store surface (``store.labeling``) on SQLite and PostgreSQL: projects, guidelines,
annotators, queues, annotations and reviews, with bad input and concurrent writers."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from loopml import ConflictError, NotFoundError, ValidationError
from loopml.store import (
    AnnotationRecord,
    GuidelineRecord,
    LabelProjectRecord,
    NewReview,
    QueueCounts,
    QueueEntry,
    Store,
)

N = 6


@pytest.fixture
def project(store: Store) -> LabelProjectRecord:
    table = pa.table({"id": [f"it{k}" for k in range(N)], "split": ["train"] * N})
    v, _ = store.datasets.add_version("items", table, {"id": "id"}, {})
    return store.labeling.projects.create(
        "pets", v.digest, ("cat", "dog", "bird"), [f"it{k}" for k in range(N)], overlap=2
    )


def _guided(store: Store, project: LabelProjectRecord, *names: str) -> dict[str, int]:
    store.labeling.guidelines.publish(project.id, "Label the animal.", "first version")
    return store.labeling.annotators.add(project.id, list(names or ("ann", "bo")))


def test_projects_and_items(store: Store, project: LabelProjectRecord) -> None:
    assert store.labeling.projects.get("pets") == project
    assert project.classes == ("cat", "dog", "bird") and project.overlap == 2
    [summary] = store.labeling.projects.summaries()
    assert (summary.project, summary.n_items, summary.n_annotations) == (project, N, 0)
    assert store.labeling.projects.item_indices(project.id, ["it2", "nope"]) == {"it2": 2}
    assert store.labeling.projects.item_ids(project.id, [0, 5, 99]) == {0: "it0", 5: "it5"}
    assert store.labeling.projects.count_items(project.id) == N


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "pets"}, ConflictError, "already exists"),
        ({"dataset": "0" * 64}, NotFoundError, "no dataset version with digest"),
        ({"classes": ("cat", "cat")}, ValidationError, "distinct"),
        ({"classes": "cat"}, ValidationError, "distinct"),
        ({"item_ids": []}, ValidationError, "at least one item"),
        ({"item_ids": ["a", "a"]}, ValidationError, "must be unique"),
        ({"overlap": 0}, ValidationError, "overlap"),
        ({"min_agreement": 2.0}, ValidationError, "min_agreement"),
        ({"name": ""}, ValidationError, "1-200 characters"),
    ],
)
def test_bad_projects_store_nothing(
    store: Store, project: LabelProjectRecord, kwargs: dict, error: type, match: str
) -> None:
    args = {
        "name": "new",
        "dataset": project.dataset,
        "classes": ("a", "b"),
        "item_ids": ["x", "y"],
        **kwargs,
    }
    with pytest.raises(error, match=match):
        store.labeling.projects.create(
            args.pop("name"), args.pop("dataset"), args.pop("classes"), args.pop("item_ids"), **args
        )
    assert [s.project.name for s in store.labeling.projects.summaries()] == ["pets"]


def test_guidelines_are_versioned(store: Store, project: LabelProjectRecord) -> None:
    g = store.labeling.guidelines
    assert g.latest_version(project.id) == 0
    assert g.publish(project.id, "v1 text", "first") == (1, 0)
    assert g.publish(project.id, "v2 text", "cat changed", affects=[0], affect_names=["cat"]) == (
        2,
        0,  # nothing labeled yet, so nothing to relabel
    )
    [v1, v2] = g.versions(project.id)
    assert isinstance(v1, GuidelineRecord) and (v1.version, v1.text) == (1, "v1 text")
    assert v2.affects == ("cat",) and g.latest_version(project.id) == 2
    with pytest.raises(ValidationError, match="guideline text is empty"):
        g.publish(project.id, " ", "note")
    with pytest.raises(ValidationError, match="change note"):
        g.publish(project.id, "text", "")
    with pytest.raises(ValidationError, match="class indices"):
        g.publish(project.id, "text", "note", affects=[-1])
    assert g.latest_version(project.id) == 2


def test_a_new_version_queues_the_affected_items_for_relabeling(
    store: Store, project: LabelProjectRecord
) -> None:
    ids = _guided(store, project)
    store.labeling.annotations.add(project.id, ids["ann"], 0, 0)  # cat
    store.labeling.annotations.add(project.id, ids["ann"], 1, 1)  # dog
    version, queued = store.labeling.guidelines.publish(
        project.id, "v2", "cats differ", affects=[0], affect_names=["cat"]
    )
    assert (version, queued) == (2, 1)
    [entry] = store.labeling.queue.next(project.id, ids["ann"], 10)
    assert (entry.item_idx, entry.reason, entry.round) == (0, "relabel", 2)


def test_annotators(store: Store, project: LabelProjectRecord) -> None:
    a = store.labeling.annotators
    ids = a.add(project.id, ["ann", "bo"])
    assert a.add(project.id, ["ann"], "reviewer") == {"ann": ids["ann"]}  # kept as it was
    a.add(project.id, ["rev"], "reviewer")
    assert a.get(project.id, "ann").role == "annotator"
    assert [(r.name, r.role) for r in a.all(project.id)] == [
        ("ann", "annotator"),
        ("bo", "annotator"),
        ("rev", "reviewer"),
    ]
    assert [(s.name, s.labels, s.flags, s.pending) for s in a.stats(project.id)] == [
        ("ann", 0, 0, 0),
        ("bo", 0, 0, 0),
        ("rev", 0, 0, 0),
    ]
    with pytest.raises(NotFoundError, match="no annotator 'zed'"):
        a.get(project.id, "zed")
    with pytest.raises(ValidationError, match="role 'boss'"):
        a.add(project.id, ["x"], "boss")
    with pytest.raises(ValidationError, match="not allowed"):
        a.add(project.id, ["two words"])
    assert len(a.all(project.id)) == 3


def test_queue_assign_next_skip_undo(store: Store, project: LabelProjectRecord) -> None:
    ids = _guided(store, project)
    q = store.labeling.queue
    batch, added = q.assign(project.id, [ids["ann"], ids["bo"]], overlap=2, limit=4)
    assert (batch, added) == (1, 8)
    assert q.assign(project.id, [ids["ann"]], [0, 1])[1] == 0  # already queued: left as it is
    first = q.next(project.id, ids["ann"])
    assert first == [QueueEntry(first[0].id, 0, "it0", "label", 1)]
    assert q.skip(project.id, ids["ann"], 0) is True
    assert q.skip(project.id, ids["ann"], 0) is False  # not pending any more
    assert q.counts(project.id, ids["ann"]) == QueueCounts(pending=3, done=0, skipped=1)
    assert q.undo(project.id, ids["ann"]) == 0
    assert q.undo(project.id, ids["ann"]) is None
    assert q.counts(project.id) == QueueCounts(pending=8)
    assert q.assigned_items(project.id).tolist() == [0, 1, 2, 3]
    for kwargs, match in [
        ({"annotator_ids": []}, "at least one annotator"),
        ({"overlap": 3}, "overlap 3"),
        ({"limit": -1}, "limit"),
        ({"reason": "Not a reason!"}, "queue reason 'Not a reason!'"),
        ({"reason": "x" * 17}, "short identifier"),
    ]:
        with pytest.raises(ValidationError, match=match):
            q.assign(project.id, kwargs.pop("annotator_ids", [ids["ann"]]), **kwargs)
    assert q.counts(project.id) == QueueCounts(pending=8)


def test_annotations_close_the_queue_entry_and_undo_removes_them(
    store: Store, project: LabelProjectRecord
) -> None:
    ids = _guided(store, project)
    store.labeling.queue.assign(project.id, [ids["ann"]], [2])
    aid = store.labeling.annotations.add(
        project.id, ids["ann"], 2, 1, seconds=1.5, flag=True, comment="[dog?]"
    )
    [rec] = store.labeling.annotations.of_item(project.id, 2)
    assert isinstance(rec, AnnotationRecord)
    assert (rec.id, rec.annotator, rec.label, rec.kind, rec.guideline_version) == (
        aid,
        "ann",
        1,
        "label",
        1,
    )
    assert store.labeling.queue.counts(project.id) == QueueCounts(done=1)
    [flag] = store.labeling.annotations.flagged(project.id)
    assert (flag.item_idx, flag.comment, flag.annotator) == (2, "[dog?]", "ann")
    arrays = store.labeling.annotations.arrays(project.id)
    assert {k: v.tolist() for k, v in arrays.items()} == {
        "item": [2],
        "annotator": [ids["ann"]],
        "label": [1],
        "version": [1],
        "id": [aid],
    }
    assert store.labeling.queue.undo(project.id, ids["ann"]) == 2
    assert store.labeling.annotations.of_item(project.id, 2) == []
    assert store.labeling.queue.counts(project.id) == QueueCounts(pending=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"label": -1}, ValidationError, "class index"),
        ({"label": "cat"}, ValidationError, "class index"),
        ({"label": None}, ValidationError, "needs a label"),
        ({"version": 5}, ValidationError, "guideline version 5 does not exist"),
        ({"item_idx": 99}, NotFoundError, "no item with index 99"),
        ({"annotator_id": 10_000}, NotFoundError, "no annotator with id 10000"),
        ({"seconds": -1.0}, ValidationError, "seconds spent"),
        ({"comment": "x" * 5001}, ValidationError, "at most 5000"),
    ],
)
def test_bad_annotations_store_nothing(
    store: Store, project: LabelProjectRecord, kwargs: dict, error: type, match: str
) -> None:
    ids = _guided(store, project)
    args = {"annotator_id": ids["ann"], "item_idx": 0, "label": 0, **kwargs}
    with pytest.raises(error, match=match):
        store.labeling.annotations.add(
            project.id, args.pop("annotator_id"), args.pop("item_idx"), args.pop("label"), **args
        )
    assert store.labeling.annotations.arrays(project.id)["item"].tolist() == []
    assert store.labeling.queue.counts(project.id) == QueueCounts()


def test_no_guideline_no_annotation(store: Store, project: LabelProjectRecord) -> None:
    ids = store.labeling.annotators.add(project.id, ["ann"])
    with pytest.raises(ValidationError, match="no guideline yet"):
        store.labeling.annotations.add(project.id, ids["ann"], 0, 0)


def test_two_writers_on_one_item_and_version_one_wins(
    store: Store, project: LabelProjectRecord
) -> None:
    ids = _guided(store, project)
    store.labeling.queue.assign(project.id, [ids["ann"]], [3])
    other = Store(store.settings)  # a second process's store: its own connections
    start = threading.Barrier(2)
    won: list[int] = []
    lost: list[ConflictError] = []
    errors: list[BaseException] = []

    def work(s: Store, label: int) -> None:
        try:
            start.wait()
            won.append(s.labeling.annotations.add(project.id, ids["ann"], 3, label))
        except ConflictError as exc:
            lost.append(exc)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [
            threading.Thread(target=work, args=(s, label)) for s, label in ((store, 0), (other, 1))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        other.close()
    assert not errors, errors
    assert len(won) == 1 and len(lost) == 1
    [rec] = store.labeling.annotations.of_item(project.id, 3)
    assert rec.id == won[0]
    assert store.labeling.queue.counts(project.id) == QueueCounts(done=1)


def test_concurrent_publishers_get_distinct_versions(
    store: Store, project: LabelProjectRecord
) -> None:
    other = Store(store.settings)
    start = threading.Barrier(2)
    versions: list[int] = []
    errors: list[BaseException] = []

    def work(s: Store, text: str) -> None:
        try:
            start.wait()
            versions.append(s.labeling.guidelines.publish(project.id, text, "note")[0])
        except ConflictError:
            pass  # allowed: the message asks to publish again
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [
            threading.Thread(target=work, args=(s, t)) for s, t in ((store, "a"), (other, "b"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        other.close()
    assert not errors, errors
    stored = [g.version for g in store.labeling.guidelines.versions(project.id)]
    assert stored == sorted(versions) == list(range(1, len(versions) + 1))


def test_reviews_replace_list_and_resolve(store: Store, project: LabelProjectRecord) -> None:
    ids = _guided(store, project)
    rev = store.labeling.annotators.add(project.id, ["rev"], "reviewer")["rev"]
    r = store.labeling.reviews
    entries = [
        NewReview(1, "tie", 0.5, {"reason": "tied vote"}),
        NewReview(2, "low_agreement", 0.7, {"reason": "only 33% agree"}),
    ]
    assert r.replace_open(project.id, ["tie", "low_agreement"], entries) == 2
    listed = r.entries(project.id)
    assert [(e.item_id, e.kind, e.status) for e in listed] == [
        ("it2", "low_agreement", "open"),
        ("it1", "tie", "open"),
    ]
    assert listed[0].detail == {"reason": "only 33% agree"}
    assert r.resolve(project.id, 2, rev, "rev", 1, 1) == 1
    assert [e.resolution for e in r.entries(project.id, status="resolved")] == [1]
    decisions = [a for a in store.labeling.annotations.of_item(project.id, 2) if a.kind == "review"]
    assert [(d.annotator, d.label) for d in decisions] == [("rev", 1)]
    # A decided item is not queued again; an open one is replaced.
    assert r.replace_open(project.id, ["tie", "low_agreement"], entries) == 1
    assert len(r.entries(project.id, status=None)) == 2
    assert r.resolve(project.id, 1, rev, "rev", None, 1) == 1
    assert [e.status for e in r.entries(project.id, ["tie"], status=None)] == ["dismissed"]
    assert ids  # annotators exist beside the reviewer
    with pytest.raises(ValidationError, match="review kind 'bogus'"):
        r.entries(project.id, ["bogus"])
    with pytest.raises(ValidationError, match="review status 'closed'"):
        r.entries(project.id, status="closed")
    with pytest.raises(ValidationError, match="not among the kinds replaced"):
        r.replace_open(project.id, ["tie"], [NewReview(1, "label_issue", 1.0, {})])
    with pytest.raises(ValidationError, match="class index"):
        r.resolve(project.id, 1, rev, "rev", -2, 1)


def test_delete_project_removes_everything(store: Store, project: LabelProjectRecord) -> None:
    ids = _guided(store, project)
    store.labeling.annotations.add(project.id, ids["ann"], 0, 0)
    store.labeling.projects.delete(project.id)
    with pytest.raises(NotFoundError, match="no labeling project 'pets'"):
        store.labeling.projects.get("pets")
    assert store.labeling.annotations.arrays(project.id)["item"].tolist() == []
    assert store.labeling.guidelines.versions(project.id) == []


def test_writes_to_unknown_projects_or_people_are_not_found(
    store: Store, project: LabelProjectRecord
) -> None:
    ids = _guided(store, project)
    missing = project.id + 1000
    with pytest.raises(NotFoundError, match=f"no labeling project with id {missing}"):
        store.labeling.guidelines.publish(missing, "text", "note")
    with pytest.raises(NotFoundError, match="no labeling project with id"):
        store.labeling.annotators.add(missing, ["ann"])
    with pytest.raises(NotFoundError, match="no labeling project with id"):
        store.labeling.queue.assign(missing, [ids["ann"]])
    with pytest.raises(NotFoundError, match="no labeling project with id"):
        store.labeling.reviews.replace_open(missing, ["tie"], [])
    with pytest.raises(NotFoundError, match="are not all in this project"):
        store.labeling.queue.assign(project.id, [ids["ann"], 10_000], overlap=2)
    with pytest.raises(NotFoundError, match="no reviewer with id 10000"):
        store.labeling.reviews.resolve(project.id, 0, 10_000, "ghost", 1, 1)
    assert store.labeling.queue.counts(project.id) == QueueCounts()
    assert store.labeling.annotations.arrays(project.id, "review")["item"].tolist() == []
    assert store.labeling.guidelines.latest_version(project.id) == 1
