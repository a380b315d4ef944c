"""Tags, the ceiling table, slice discovery, comparison and send to labeling."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml import NotFoundError, ValidationError
from loopml.analysis import evaluate

from .conftest import CLASSES, planted_predictions


def test_tags_by_hand_rule_and_undo(evaluation: Any) -> None:
    rows = evaluation.rows()
    first = rows["id"].iloc[:3].tolist()
    t = evaluation.tag("blurry", first[:2])
    assert (t.name, t.kind, t.size) == ("blurry", "hand", 2)
    evaluation.tag("blurry", first)  # adding again is idempotent per example
    assert evaluation.tag_items("blurry") == sorted(first)
    assert evaluation.undo_tag() is not None
    assert len(evaluation.tag_items("blurry")) == 2
    rule = evaluation.tag(
        "dark-scan", where="brightness < 0.3 and source = 'scan'", errors_only=True
    )
    want = rows[(rows["brightness"] < 0.3) & (rows["source"] == "scan") & ~rows["correct"]]
    assert rule.kind == "rule" and rule.size == len(want) and "correct = false" in rule.rule
    # an example may hold many tags
    both = set(evaluation.tag_items("blurry")) & set(evaluation.tag_items("dark-scan"))
    for item in both:
        assert set(evaluation.store.evaluations.item_tags(evaluation.id, item)) >= {
            "blurry",
            "dark-scan",
        }
    assert evaluation.untag("blurry", first) == 2


def test_bad_tags(evaluation: Any) -> None:
    with pytest.raises(NotFoundError, match=r"2 item ids are not in evaluation"):
        evaluation.tag("x", ["nope", "nada"])
    with pytest.raises(ValidationError, match="either by hand"):
        evaluation.tag("x")
    with pytest.raises(ValidationError, match="tag name"):
        evaluation.tag("", ["it1"])
    with pytest.raises(NotFoundError, match="did you mean 'blurry'"):
        evaluation.tag("blurry", evaluation.rows()["id"].iloc[:1].tolist())
        evaluation.tag_items("blury")
    assert [t.name for t in evaluation.tags()] == ["blurry"]  # the failed tags left nothing


def test_auto_tags(evaluation: Any) -> None:
    low = evaluation.auto_tag("low-confidence", threshold=0.8)
    assert low.size == evaluation.record.n_rows  # every confidence is 0.7
    issues = evaluation.auto_tag("suspected-label-error")
    assert issues.kind == "auto" and issues.size > 0
    rows = evaluation.rows().set_index("id").loc[evaluation.tag_items("suspected-label-error")]
    assert (~rows["correct"]).all()  # confident learning flags items where the model disagrees
    with pytest.raises(ValidationError, match="automatic tags"):
        evaluation.auto_tag("fuzzy")


def test_ceiling_table(evaluation: Any) -> None:
    evaluation.tag("dark-scan", where="brightness < 0.3 and source = 'scan'", errors_only=True)
    evaluation.tag("some", evaluation.rows()["id"].iloc[:20].tolist())
    table = evaluation.ceiling(by="tags")
    assert list(table["tag"]) == ["dark-scan", "some"]  # sorted by gain
    n = evaluation.record.n_rows
    errors = n - round(evaluation.metrics["accuracy"].value * n)
    top = table.iloc[0]
    assert top["gain"] == pytest.approx(top["errors"] / n)  # accuracy gain = its errors / n
    assert top["share"] == pytest.approx(top["errors"] / errors)
    assert top["error_rate"] == 1.0 and top["p_value"] < 1e-6
    assert top["gain_low"] <= top["gain"] <= top["gain_high"]
    f1 = evaluation.ceiling(by="tags", metric="macro_f1")
    assert f1.iloc[0]["gain"] > 0
    by_slice = evaluation.ceiling(by="slices", slices=["source = 'scan'", "brightness > 5"])
    assert list(by_slice["slice"]) == ["source = 'scan'", "brightness > 5"]
    assert by_slice.iloc[1]["size"] == 0 and by_slice.iloc[1]["gain"] == 0
    with pytest.raises(ValidationError, match="metric"):
        evaluation.ceiling(metric="auc")


def _planted(store: Any, n: int, seed: int = 0) -> Any:
    """n rows, 8 categorical columns, base error 10%, planted: a=1 and b=2 (55%), c=0 and d=1 and
    e=2 (70%)."""
    rng = np.random.default_rng(seed)
    cols = {name: rng.integers(0, 4, n) for name in "abcdefgh"}
    rate = np.full(n, 0.1)
    rate[(cols["a"] == 1) & (cols["b"] == 2)] = 0.55
    rate[(cols["c"] == 0) & (cols["d"] == 1) & (cols["e"] == 2)] = 0.7
    truth = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < rate, 1 - truth, truth)
    frame = pd.DataFrame({"id": np.arange(n).astype(str), "label": truth, **cols, "split": "test"})
    v = loopml.datasets.create(f"planted{seed}", frame, metadata=list(cols), store=store)
    return evaluate(pd.DataFrame({"id": frame["id"], "prediction": pred}), v, classes=[0, 1])


def test_discovery_finds_planted_slices_not_their_sub_slices(store: Any) -> None:
    ev = _planted(store, 20_000)
    found = ev.discover_slices(k=5)
    assert list(found.columns[:7]) == [
        "slice", "level", "size", "errors", "error_rate", "excess", "p_value",
    ]  # fmt: skip
    assert {"a = 1 and b = 2", "c = 0 and d = 1 and e = 2"} <= set(found["slice"].iloc[:2])
    assert (found["p_value"] < 0.05).all()
    # no sub-slice (a superset of a planted slice's predicates) is shown, nor a mere parent
    for s in found["slice"]:
        preds = set(s.split(" and "))
        assert not ({"a = 1", "b = 2"} < preds or {"c = 0", "d = 1", "e = 2"} < preds)
        assert s not in ("a = 1", "b = 2", "c = 0 and d = 1")
    # the slices it names are predicates in the filter language
    top = found.iloc[0]
    assert ev.slice(top["slice"]).size == top["size"]
    assert found.iloc[0]["gain"] == pytest.approx(top["errors"] / ev.record.n_rows)


def test_discovery_on_noise_finds_nothing(store: Any) -> None:
    rng = np.random.default_rng(3)
    n = 5000
    cols = {name: rng.integers(0, 4, n) for name in "abcd"}
    truth = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.1, 1 - truth, truth)
    frame = pd.DataFrame({"id": np.arange(n).astype(str), "label": truth, **cols, "split": "test"})
    v = loopml.datasets.create("noise", frame, metadata=list(cols), store=store)
    ev = evaluate(pd.DataFrame({"id": frame["id"], "prediction": pred}), v, classes=[0, 1])
    assert ev.discover_slices(k=5).empty
    with pytest.raises(ValidationError, match="unknown columns"):
        ev.discover_slices(columns=["zz"])
    with pytest.raises(ValidationError, match="max_predicates"):
        ev.discover_slices(max_predicates=4)


def test_compare_counts_fixed_broken_and_regressions(store: Any, version: Any) -> None:
    champion = evaluate(planted_predictions(version, seed=0), version, classes=CLASSES)
    preds = planted_predictions(version, seed=0, rate_in=0.05)  # fixes the dark scans...
    test = version.to_pandas(split="test").set_index("id").loc[preds["id"]]
    photo = (test["source"] == "photo").to_numpy()
    truth = test["label"].to_numpy()
    # ...and breaks the photos of camera 0
    broken = photo & (test["camera"] == 0).to_numpy()
    preds.loc[broken, "prediction"] = [CLASSES[(CLASSES.index(t) + 1) % 3] for t in truth[broken]]
    challenger = evaluate(preds, version, classes=CLASSES)
    cmp = champion.compare(challenger)
    a = champion.rows().set_index("id")["correct"]
    b = challenger.rows().set_index("id")["correct"].loc[a.index]
    assert cmp.fixed == int((~a & b).sum()) and cmp.broken == int((a & ~b).sum())
    assert cmp.overall["p_value"] < 0.05
    assert "camera = 0" in set(cmp.regressions["slice"])
    assert (cmp.regressions["delta"] < 0).all() and (cmp.regressions["p_adjusted"] < 0.05).all()
    assert "source = 'scan'" not in set(cmp.regressions["slice"])
    row = cmp.slices.set_index("slice").loc["camera = 0"]
    assert row["delta_low"] <= row["delta"] <= row["delta_high"]
    champion.tag("dark", where="brightness < 0.3 and source = 'scan'")
    assert champion.compare(challenger).tags.iloc[0]["tag"] == "dark"
    # rows stored in another order are paired by id (not by position): the same comparison
    from loopml.store import EvalMetric

    rows = store.evaluations.read_rows(challenger.id)
    shuffled = store.evaluations.create(
        name="shuffled", dataset_digest=version.digest, split="test", task="classification",
        classes=CLASSES, rows=rows.take(list(range(rows.num_rows))[::-1]),
        metrics=[EvalMetric("accuracy", 0.5, None, None)],
    )  # fmt: skip
    again = champion.compare(shuffled.id)
    assert (again.fixed, again.broken) == (cmp.fixed, cmp.broken)
    pd.testing.assert_frame_equal(again.slices, champion.compare(challenger).slices)
    fixed = store.evaluations.paired_rows(champion.id, shuffled.id, "fixed", limit=None)
    assert fixed.num_rows == cmp.fixed


def test_compare_needs_the_same_rows(store: Any, version: Any, evaluation: Any) -> None:
    train = version.to_pandas(split="train")
    other = evaluate(
        pd.DataFrame({"id": train["id"], "prediction": train["label"]}), version, split="train",
        classes=CLASSES,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="same dataset version and split"):
        evaluation.compare(other)
    with pytest.raises(ValidationError, match="itself"):
        evaluation.compare(evaluation)


def test_send_to_labeling_records_the_reason(store: Any, evaluation: Any) -> None:
    evaluation.tag("dark-scan", where="brightness < 0.3 and source = 'scan'", errors_only=True)
    with pytest.raises(ValidationError, match="with annotators"):
        evaluation.send_to_labeling(tag="dark-scan")
    assert loopml.labeling.list_projects() == []  # the failed send created nothing
    req = evaluation.send_to_labeling(tag="dark-scan", annotators=["ann", "bo"], limit=5)
    assert req.project == "pets-analysis" and req.group_kind == "tag" and len(req.item_ids) == 5
    assert "dark-scan" in req.reason and evaluation.id[:8] in req.reason
    p = loopml.labeling.project("pets-analysis")
    queued = p.next_items("ann", 10) + p.next_items("bo", 10)  # overlap 1: split between them
    assert {q.item_id for q in queued} == set(req.item_ids)
    assert {q.reason for q in queued} == {"analysis"}
    # a confusion cell, into the same project (found over the dataset version)
    cell = evaluation.send_to_labeling(cell=("cat", "dog"))
    assert cell.project == "pets-analysis" and cell.batch == req.batch + 1
    assert [r.id for r in evaluation.labeling_requests()] == [req.id, cell.id]
    # the labels it gets trace back to the analysis
    item = p.next_items("ann", 1)[0].item_id
    p.publish_guidelines("# Pets\n\nLabel the animal.\n", note="first version")
    p.annotate("ann", item, "cat", seconds=1.0)
    history = evaluation.labeling_history(item)
    assert history[0]["annotator"] == "ann" and history[0]["label"] == "cat"
    assert "dark-scan" in history[0]["requested_by"] and history[0]["guideline_version"] == 1
    with pytest.raises(ValidationError, match="exactly one group"):
        evaluation.send_to_labeling(tag="dark-scan", slice="camera = 1")
    with pytest.raises(ValidationError, match="holds no examples"):
        evaluation.send_to_labeling(slice="brightness > 5")


def test_concurrent_taggers(evaluation: Any) -> None:
    """Several writers tagging at once (the same new tag): every example lands, once."""
    import threading

    ids = evaluation.rows()["id"].tolist()[:40]
    errors: list[BaseException] = []

    def work(part: list[str]) -> None:
        try:
            for item in part:
                evaluation.tag("shared", [item])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert evaluation.tag_items("shared") == sorted(ids)
