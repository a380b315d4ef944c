"""Send to labeling is one write: the queue entries and the request recording why land together."""

from __future__ import annotations

from typing import Any

import pytest

import loopml
from loopml import ValidationError


class Crash(RuntimeError):
    """The fault injected between queuing the items and recording the request."""


def test_a_crash_before_the_request_is_recorded_queues_nothing(
    store: Any, evaluation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml.store._evaluations as evaluations_store

    evaluation.tag("dark-scan", where="brightness < 0.3 and source = 'scan'", errors_only=True)
    first = evaluation.send_to_labeling(tag="dark-scan", annotators=["ann", "bo"], limit=3)
    p = loopml.labeling.project(first.project)
    before = p.queue_counts()

    def crash(conn: Any, values: dict[str, Any]) -> int:
        # The queue rows of this batch are written in this transaction by now.
        raise Crash("the process died here")

    monkeypatch.setattr(evaluations_store, "_insert_request", crash)
    with pytest.raises(Crash):
        evaluation.send_to_labeling(cell=("cat", "dog"))
    monkeypatch.undo()
    assert p.queue_counts() == before  # no item queued without its reason
    assert [r.id for r in evaluation.labeling_requests()] == [first.id]
    # the next send takes the batch number the failed one never used
    again = evaluation.send_to_labeling(cell=("cat", "dog"))
    assert again.batch == first.batch + 1
    queued = {q.item_id for a in ("ann", "bo") for q in p.next_items(a, 100)}
    assert set(again.item_ids) <= queued and set(first.item_ids) <= queued


def test_send_bad_input_writes_nothing(store: Any, evaluation: Any) -> None:
    evaluation.tag("dark-scan", where="brightness < 0.3 and source = 'scan'", errors_only=True)
    evaluation.send_to_labeling(tag="dark-scan", annotators=["ann"], limit=2)
    p = loopml.labeling.project("pets-analysis")
    before = p.queue_counts()
    with pytest.raises(ValidationError, match="overlap"):
        evaluation.send_to_labeling(tag="dark-scan", overlap=3)  # one annotator only
    with pytest.raises(ValidationError, match="overlap is a whole number"):
        evaluation.send_to_labeling(tag="dark-scan", overlap=0)
    with pytest.raises(ValidationError, match="reason"):
        evaluation.send_to_labeling(tag="dark-scan", reason="   ")
    assert p.queue_counts() == before
    assert len(evaluation.labeling_requests()) == 1
