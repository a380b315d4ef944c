"""The labeling workflow on both backends: guidelines, queues, annotations, relabeling, review."""

from __future__ import annotations

import pytest

from loopml import ConflictError, NotFoundError, ValidationError
from loopml.labeling import LabelingProject, create_project, list_projects


def _label_all(p: LabelingProject, answers: dict[str, dict[str, str]]) -> None:
    """Each annotator works through their queue, answering from ``answers[annotator][item]``."""
    for name, chosen in answers.items():
        while (q := p.next_item(name)) is not None:
            p.annotate(name, q.item_id, chosen.get(q.item_id, "cat"), seconds=1.5)


def test_assign_gives_each_item_to_k_distinct_annotators(project: LabelingProject) -> None:
    batch, added = project.assign(limit=10)
    assert (batch, added) == (1, 20)
    owners: dict[str, set[str]] = {}
    for name in ("ann", "bo", "cy"):
        for q in project.next_items(name, 100):
            owners.setdefault(q.item_id, set()).add(name)
            assert q.reason == "label" and q.round == 1
    assert len(owners) == 10 and all(len(v) == 2 for v in owners.values())
    assert project.assign(limit=10)[1] == 4  # only the 2 items left unassigned
    assert project.queue_counts() == {"pending": 24, "done": 0, "skipped": 0}
    with pytest.raises(ValidationError, match="overlap 4"):
        project.assign(overlap=4)


def test_annotation_records_version_time_flag_and_comment(project: LabelingProject) -> None:
    project.assign(["ann"], overlap=1, items=["it0", "it1", "it2"])
    q = project.next_item("ann")
    assert q is not None and q.item_id == "it0"
    assert project.item("it0")["text"] == "<b>item</b> 0"
    project.annotate("ann", "it0", "dog", seconds=3.25, flag=True, comment="tail hidden: unclear")
    rows = project.item_annotations("it0")
    assert len(rows) == 1
    r = rows[0]
    assert (
        r["label"],
        r["guideline_version"],
        r["seconds"],
        r["flag"],
        r["comment"],
        r["annotator"],
    ) == ("dog", 1, 3.25, True, "tail hidden: unclear", "ann")
    assert project.next_item("ann").item_id == "it1"  # type: ignore[union-attr]
    assert project.skip("ann", "it1")
    assert project.next_item("ann").item_id == "it2"  # type: ignore[union-attr]
    assert project.undo("ann") == "it1"  # the skip is taken back
    assert project.next_item("ann").item_id == "it1"  # type: ignore[union-attr]
    assert project.undo("ann") == "it0"  # then the label: removed, queued again
    assert project.item_annotations("it0") == []
    assert project.next_item("ann").item_id == "it0"  # type: ignore[union-attr]
    assert project.undo("ann") is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"label": "horse"}, ValidationError, "unknown class 'horse'"),
        ({"item_id": "nope"}, NotFoundError, "no item 'nope'"),
        ({"guideline_version": 7}, ValidationError, "guideline version 7 does not exist"),
        ({"annotator": "zed"}, NotFoundError, "no annotator 'zed'"),
        ({"label": None}, ValidationError, "needs a label"),
        ({"label": ["cat"]}, ValidationError, "one class name"),
        ({"seconds": -1}, ValidationError, "seconds spent"),
        ({"comment": "x" * 6000}, ValidationError, "at most 5000"),
    ],
)
def test_bad_annotations_are_rejected(
    project: LabelingProject, kwargs: dict, error: type, match: str
) -> None:
    args = {"annotator": "ann", "item_id": "it0", "label": "cat", **kwargs}
    with pytest.raises(error, match=match):
        project.annotate(args.pop("annotator"), args.pop("item_id"), args.pop("label"), **args)
    assert project.item_annotations("it0") == []


def test_the_same_label_twice_is_a_conflict_not_a_duplicate(project: LabelingProject) -> None:
    project.annotate("ann", "it0", "cat")
    with pytest.raises(ConflictError, match="already labeled"):
        project.annotate("ann", "it0", "dog")
    assert [r["label"] for r in project.item_annotations("it0")] == ["cat"]


def test_no_guideline_means_no_annotation(store: object) -> None:
    import pandas as pd

    from loopml.datasets import create

    v = create("plain", pd.DataFrame({"x": [1, 2]}), store=store)
    p = create_project("plain-labels", v, ["a", "b"], store=store)
    p.add_annotators(["ann"])
    with pytest.raises(ValidationError, match="no guideline yet"):
        p.annotate("ann", "0", "a")


def test_project_creation_rules(project: LabelingProject, store: object) -> None:
    with pytest.raises(ConflictError, match="already exists"):
        create_project("animals-labels", "animals", ["a", "b"], store=store)
    with pytest.raises(ValidationError, match="at least 2 classes"):
        create_project("x", "animals", ["a"], store=store)
    with pytest.raises(ValidationError, match="unique"):
        create_project("x", "animals", ["a", "a"], store=store)
    with pytest.raises(ValidationError, match="no label column"):
        create_project("x", "animals", store=store)
    with pytest.raises(ValidationError, match="overlap"):
        create_project("x", "animals", ["a", "b"], overlap=0, store=store)
    with pytest.raises(NotFoundError, match="no labeling project"):
        project_ = project  # noqa: F841
        from loopml.labeling import project as open_project

        open_project("nope", store=store)
    assert [r["name"] for r in list_projects(store=store)] == ["animals-labels"]
    assert project.classes == ("cat", "dog", "bird")


def test_guideline_versions_diff_and_targeted_relabel(project: LabelingProject) -> None:
    project.assign(["ann", "bo"], overlap=2, items=["it0", "it1", "it2", "it3"])
    answers = {
        "ann": {"it0": "cat", "it1": "dog", "it2": "bird", "it3": "cat"},
        "bo": {"it0": "cat", "it1": "cat", "it2": "bird", "it3": "cat"},
    }
    _label_all(project, answers)
    text2 = "# Animals\n\nLabel the animal.\nA fox is a **dog**.\n"
    g2 = project.publish_guidelines(text2, note="foxes count as dog")
    assert g2.version == 2 and g2.affects == ["dog"]
    # Only it1 has a current label touching 'dog'; both its annotators relabel it.
    assert g2.queued == 2
    assert [q.item_id for q in project.next_items("ann", 10)] == ["it1"]
    q = project.next_item("bo")
    assert q is not None and (q.item_id, q.reason, q.round) == ("it1", "relabel", 2)
    project.annotate("ann", "it1", "dog")
    project.annotate("bo", "it1", "dog")
    labels = [
        (r["annotator"], r["label"], r["guideline_version"])
        for r in project.item_annotations("it1")
    ]
    assert labels == [
        ("ann", "dog", 1),
        ("bo", "cat", 1),
        ("ann", "dog", 2),
        ("bo", "dog", 2),
    ]  # nothing overwritten
    assert "+A fox is a **dog**." in project.guideline_diff(1, 2)
    assert project.changed_lines(2) == {3}
    g3 = project.publish_guidelines(text2 + "\nBirds fly.\n", note="typo fixes", affects=["bird"])
    assert g3.queued == 2  # it2, labeled bird under v1, for both its annotators
    assert [g.version for g in project.guidelines()] == [1, 2, 3]
    stats = project.agreement()
    assert [s.version for s in stats] == [1, 2]
    assert stats[0].confused_pairs == [("cat", "dog", 1)] and stats[1].percent_agreement == 1.0
    with pytest.raises(ValidationError, match="change note"):
        project.publish_guidelines("text", note=" ")
    with pytest.raises(ValidationError, match="unknown class"):
        project.publish_guidelines("text", note="x", affects=["horse"])


def test_consensus_ties_go_to_review_and_reviewer_decides(project: LabelingProject) -> None:
    project.assign(["ann", "bo"], overlap=2, items=["it0", "it1"])
    _label_all(project, {"ann": {"it0": "cat", "it1": "dog"}, "bo": {"it0": "cat", "it1": "bird"}})
    cons = project.consensus().set_index("item_id")
    assert cons.loc["it0", "label"] == "cat" and cons.loc["it0", "agreement"] == 1.0
    assert bool(cons.loc["it1", "tie"])
    queue = project.review_queue()
    assert [(r["item_id"], r["kind"]) for r in queue] == [("it1", "tie")]
    assert "tied vote" in queue[0]["detail"]["reason"]
    with pytest.raises(ValidationError, match="only reviewers"):
        project.adjudicate("it1", "dog", "ann")
    assert project.adjudicate("it1", "bird", "rev") == 1
    assert project.review_queue() == []
    cons = project.consensus().set_index("item_id")
    assert (cons.loc["it1", "label"], cons.loc["it1", "source"]) == ("bird", "review")
    assert project.review_queue() == []  # a decided item is not queued again
    assert project.review_queue(status="resolved")[0]["resolution"] == "bird"
    assert len(project.item_annotations("it1")) == 3  # both labels kept beside the decision


def test_problems_report_groups_disagreements_and_flags(project: LabelingProject) -> None:
    project.assign(["ann", "bo"], overlap=2, items=["it0", "it1", "it2"])
    for name, lab in (("ann", "cat"), ("bo", "dog")):
        for item in ("it0", "it1"):
            project.annotate(
                name, item, lab, flag=name == "bo", comment="fox? unclear" if name == "bo" else None
            )
    project.annotate("ann", "it2", "bird", flag=True, comment="blurry")
    groups = project.problems()
    assert (groups[0].a, groups[0].b, groups[0].n_items, groups[0].n_flags) == ("cat", "dog", 2, 2)
    assert groups[0].examples == ["it0", "it1"]
    assert {c["comment"] for c in groups[0].comments} == {"fox? unclear"}
    assert (groups[1].a, groups[1].b, groups[1].n_flags) == ("bird", "?", 1)


def test_annotators_see_others_labels_only_where_allowed(
    project: LabelingProject, store: object
) -> None:
    project.annotate("ann", "it0", "cat")
    project.annotate("bo", "it0", "dog")
    assert [r["annotator"] for r in project.item_annotations("it0", viewer="bo")] == ["bo"]
    assert len(project.item_annotations("it0", viewer="rev")) == 2  # reviewers see all
    assert len(project.item_annotations("it0")) == 2  # managers too
    open_p = create_project(
        "open", "animals", ["cat", "dog", "bird"], show_others=True, store=store
    )
    open_p.publish_guidelines("g", note="v1")
    open_p.add_annotators(["ann", "bo"])
    open_p.annotate("ann", "it0", "cat")
    assert len(open_p.item_annotations("it0", viewer="bo")) == 1


def test_multi_label_schema(store: object) -> None:
    import pandas as pd

    from loopml.datasets import create

    v = create("scenes", pd.DataFrame({"id": ["s1", "s2"], "x": [1, 2]}), store=store)
    p = create_project("scenes-labels", v, ["cat", "dog", "bird"], multi_label=True, store=store)
    p.publish_guidelines("g", note="v1")
    p.add_annotators(["ann", "bo"])
    p.annotate("ann", "s1", ["cat", "dog"])
    p.annotate("bo", "s1", ["dog", "cat"])
    p.annotate("ann", "s2", ["bird"])
    p.annotate("bo", "s2", ["cat"])
    assert p.item_annotations("s1")[0]["label"] == ["cat", "dog"]
    cons = p.consensus().set_index("item_id")
    assert cons.loc["s1", "label"] == ["cat", "dog"] and not cons.loc["s1", "tie"]
    assert bool(cons.loc["s2", "tie"])
    stats = p.agreement()[0]
    assert stats.alpha_per_class["dog"] == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="at least one class"):
        p.annotate("ann", "s1", [])


def test_agreement_on_common_items_compares_versions_fairly(project: LabelingProject) -> None:
    project.assign(["ann", "bo"], overlap=2, items=["it0", "it1", "it2"])
    _label_all(
        project,
        {
            "ann": {"it0": "cat", "it1": "dog", "it2": "bird"},
            "bo": {"it0": "cat", "it1": "cat", "it2": "bird"},
        },
    )
    project.publish_guidelines("v2 text", note="foxes are dog")
    _label_all(project, {"ann": {"it1": "dog"}, "bo": {"it1": "dog"}})
    everything = project.agreement()
    same = project.agreement(common_items=True)
    assert [s.n_items for s in everything] == [3, 1]
    assert [s.n_items for s in same] == [1, 1]
    assert same[0].percent_agreement == 0.0 and same[1].percent_agreement == 1.0
    assert list(project.agreement_frame(common_items=True).index) == [1, 2]
