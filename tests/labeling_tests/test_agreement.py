"""The vectorised agreement statistics agree with reference implementations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from loopml.labeling import agreement, dawid_skene, majority_vote
from loopml.labeling._consensus import current_labels


def _simulate(
    n_items: int = 200, k: int = 3, n_classes: int = 4, seed: int = 0
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    item = np.repeat(np.arange(n_items), k)
    ann = np.tile(np.arange(k), n_items)
    label = np.where(
        rng.random(len(item)) < 0.75, truth[item], rng.integers(0, n_classes, len(item))
    )
    return item, ann, label, truth


def _brute_alpha(item: np.ndarray, label: np.ndarray, n_classes: int) -> float:
    o = np.zeros((n_classes, n_classes))
    for i in np.unique(item):
        ls = label[item == i]
        for x, y in itertools.permutations(range(len(ls)), 2):
            o[ls[x], ls[y]] += 1 / (len(ls) - 1)
    n_c = o.sum(1)
    n = n_c.sum()
    return 1 - (n - 1) * (n - np.trace(o)) / (n * n - (n_c**2).sum())


def _brute_fleiss(item: np.ndarray, label: np.ndarray, n_classes: int) -> float:
    counts = np.array(
        [np.bincount(label[item == i], minlength=n_classes) for i in np.unique(item)], float
    )
    m = counts.sum(1)[0]
    p_i = ((counts**2).sum(1) - m) / (m * (m - 1))
    p_j = counts.sum(0) / counts.sum()
    return (p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum())


def test_statistics_match_references() -> None:
    item, ann, label, _ = _simulate()
    s = agreement(item, ann, label, ("a", "b", "c", "d"))
    assert s.krippendorff_alpha == pytest.approx(_brute_alpha(item, label, 4))
    assert s.fleiss_kappa == pytest.approx(_brute_fleiss(item, label, 4))
    pairs = {(a, b): kp for a, b, _, kp in s.pair_kappas}
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert pairs[(str(a), str(b))] == pytest.approx(
            cohen_kappa_score(label[ann == a], label[ann == b])
        )
    assert s.cohen_kappa == pytest.approx(np.mean(list(pairs.values())))
    # Alpha for one class equals alpha of the yes/no recoding.
    binary = agreement(item, ann, (label == 2).astype(np.int64), ("no", "yes"))
    assert s.alpha_per_class["c"] == pytest.approx(binary.krippendorff_alpha)


def test_perfect_agreement_and_confused_pairs() -> None:
    item = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    ann = np.array([0, 1] * 4)
    same = np.array([0, 0, 1, 1, 2, 2, 0, 0])
    s = agreement(item, ann, same, ("x", "y", "z"))
    assert s.krippendorff_alpha == pytest.approx(1.0) and s.fleiss_kappa == pytest.approx(1.0)
    assert s.confused_pairs == [] and s.percent_agreement == 1.0
    mixed = np.array([0, 1, 0, 1, 2, 2, 0, 0])
    s2 = agreement(item, ann, mixed, ("x", "y", "z"))
    assert s2.confused_pairs == [("x", "y", 2)]


def test_items_with_one_label_do_not_count_and_empty_input_is_nan() -> None:
    s = agreement(np.array([0, 1]), np.array([0, 0]), np.array([0, 1]), ("a", "b"))
    assert s.n_items == 0 and np.isnan(s.krippendorff_alpha) and np.isnan(s.cohen_kappa)


def test_consensus_majority_and_dawid_skene() -> None:
    rng = np.random.default_rng(1)
    n, classes = 1500, 4
    truth = rng.integers(0, classes, n)
    acc = np.array([0.95, 0.55, 0.5, 0.9])
    item = np.repeat(np.arange(n), 3)
    ann = np.concatenate([rng.choice(4, 3, replace=False) for _ in range(n)])
    label = np.where(
        rng.random(len(item)) < acc[ann], truth[item], rng.integers(0, classes, len(item))
    )
    mv = majority_vote(item, label, classes)
    ds = dawid_skene(item, ann, label, classes)
    assert (ds.label == truth).mean() > (mv.label == truth).mean()
    tie = majority_vote(np.array([0, 0]), np.array([1, 2]), 3)
    assert tie.tie[0] and tie.agreement[0] == 0.5


def test_current_labels_keep_the_newest_version_per_annotator() -> None:
    arrays = {
        "item": np.array([0, 0, 0]),
        "annotator": np.array([1, 1, 2]),
        "label": np.array([5, 6, 7]),
        "version": np.array([1, 2, 1]),
        "id": np.array([1, 2, 3]),
    }
    cur = current_labels(arrays)
    assert sorted(zip(cur["annotator"].tolist(), cur["label"].tolist(), strict=False)) == [
        (1, 6),
        (2, 7),
    ]
