"""Label issues (cleanlab), active learning and snapshots on a small digits project."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

import loopml
from loopml import ValidationError
from loopml.datasets import create
from loopml.labeling import LabelingProject, create_project

N = 300


@pytest.fixture
def digits(session: object) -> tuple[LabelingProject, np.ndarray, set[str]]:
    """300 digits, labeled by one annotator with 10% of labels flipped; returns the flipped ids."""
    x, y = load_digits(return_X_y=True)
    x, y = x[:N] / 16, y[:N]
    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(64)])
    frame.insert(0, "id", [f"d{i}" for i in range(N)])
    v = create("digits", frame)
    p = create_project("digits-labels", v, [str(d) for d in range(10)])
    p.publish_guidelines("Label the digit.", note="v1")
    p.add_annotators(["ann", "bo"])
    rng = np.random.default_rng(0)
    flipped = set(rng.choice(N, N // 10, replace=False).tolist())
    for i in range(N - 50):  # the last 50 stay unlabeled
        label = (y[i] + 1 + rng.integers(0, 9)) % 10 if i in flipped else y[i]
        p.annotate("ann", f"d{i}", str(label))
    return p, y, {f"d{i}" for i in flipped if i < N - 50}


def test_label_issues_by_cross_validation_find_flipped_labels(digits: tuple) -> None:
    p, _, flipped = digits
    issues = p.find_label_issues(cv=True)
    found = set(issues["item_id"])
    precision = len(found & flipped) / len(found)
    recall = len(found & flipped) / len(flipped)
    assert precision > 0.6 and recall > 0.6
    queue = p.review_queue("label_issue", limit=None)
    assert {r["item_id"] for r in queue} == found
    assert (
        "labeled" in queue[0]["detail"]["reason"] and "more likely" in queue[0]["detail"]["reason"]
    )


def test_label_issues_from_given_probs_and_from_a_run(digits: tuple) -> None:
    p, y, flipped = digits
    probs = np.full((N, 10), 0.01)
    probs[np.arange(N), y] = 0.91
    by_array = set(p.find_label_issues(probs)["item_id"])
    assert by_array == flipped  # a perfect model finds exactly the flipped labels
    np.save("pred_probs.npy", probs)
    with loopml.init("digits") as run:
        run.log_artifact("pred_probs.npy")
    assert set(p.find_label_issues(run=run.id)["item_id"]) == flipped
    with pytest.raises(ValidationError, match="shape"):
        p.find_label_issues(probs[:10])
    with pytest.raises(ValidationError, match="sum to 1"):
        p.find_label_issues(probs * 2)
    with pytest.raises(ValidationError, match="exactly one"):
        p.find_label_issues()


def test_votes_of_several_annotators_sharpen_the_issues(digits: tuple) -> None:
    p, y, flipped = digits
    # A second annotator labels every flipped item correctly: the votes now dispute those labels.
    for item in sorted(flipped):
        p.annotate("bo", item, str(y[int(item[1:])]))
    rng = np.random.default_rng(3)
    probs = np.clip(np.eye(10)[y] * 0.5 + rng.dirichlet(np.ones(10), N) * 0.5, 1e-6, 1)
    probs /= probs.sum(1, keepdims=True)
    with_votes = p.find_label_issues(probs, use_votes=True)
    assert len(with_votes) > 0


def test_suggest_ranks_unlabeled_items_and_queues_them(digits: tuple) -> None:
    p, _, _ = digits
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(10) * 0.3, N)
    probs[-1] = 0.1  # the most uncertain item
    for method in ("entropy", "margin", "least_confidence", "activelab"):
        top = p.suggest(probs, method=method, limit=5)
        assert len(top) == 5
        if method != "activelab":
            assert top["item_id"].iloc[0] == f"d{N - 1}"
            assert all(int(i[1:]) >= N - 50 for i in top["item_id"])  # only unlabeled items
    p.suggest(probs, method="entropy", limit=3, queue_for=["bo"])
    assert [q.reason for q in p.next_items("bo", 10)] == ["active"] * 3
    with pytest.raises(ValidationError, match="unknown method"):
        p.suggest(probs, method="vibes")


def test_snapshot_becomes_a_dataset_version_with_guideline_versions(digits: tuple) -> None:
    p, y, _ = digits
    p.publish_guidelines("Label the digit. A 1 has no bar.", note="clarify 1", affects=[])
    p.annotate("bo", "d0", str(y[0]))  # a label under v2
    snap = p.snapshot("digits-labeled", note="after v2")
    assert snap.ref == "digits-labeled@1" and snap.label == "label"
    frame = snap.to_pandas()
    assert list(frame.columns[:7]) == [
        "id",
        "split",
        "label",
        "label_guideline_version",
        "label_agreement",
        "label_votes",
        "label_source",
    ]
    row0 = frame.set_index("id").loc["d0"]
    assert row0["label"] == str(y[0]) and row0["label_guideline_version"] == 2
    assert pd.isna(frame.set_index("id").loc[f"d{N - 1}", "label"])
    assert snap.source["guideline_versions"] == {"1": N - 51, "2": 1}
    assert p.snapshot("digits-labeled").digest == snap.digest  # same labels: same version
