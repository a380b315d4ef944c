"""The background writer's pass: what it ingests, and which runs it beats the heartbeat for."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml._config import Settings
from loopml.tracking import Session


def test_a_pass_beats_only_for_runs_it_did_not_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = Session(Settings(data_dir=tmp_path, flush_interval=3600.0, heartbeat_interval=0.001))
    busy = session.start_run("p", "busy")
    quiet = session.start_run("p", "quiet")
    busy.flush()
    quiet.flush()
    beats: list[list[str]] = []
    real = session.backend.heartbeat

    def spy(run_ids: list[str]) -> None:
        beats.append(list(run_ids))
        real(run_ids)

    monkeypatch.setattr(session.backend, "heartbeat", spy)
    before = session.backend.get(busy.id).heartbeat_at
    assert before is not None
    busy.log({"x": 1.0}, step=0)
    session.writer.pass_once()
    assert beats == [[quiet.id]]  # the ingest marked ``busy`` alive itself
    assert (session.backend.get(busy.id).heartbeat_at or 0.0) > before
    assert session.backend.get(busy.id).metrics["x"].count == 1
    session.writer.pass_once()  # nothing new anywhere: both beat
    assert beats[1] == sorted([busy.id, quiet.id])
    busy.finish()
    quiet.finish()
    session.shutdown()
