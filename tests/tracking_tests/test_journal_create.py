"""A journal appears under its name only once its writer holds its lock.

Recovery passes (a team-server client's background thread, another serving worker) probe the
lock of every ``*.journal`` they find and take an unlocked one for a dead writer's: a journal
visible before it was locked could be refused to its own writer or deleted as empty.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

import loopml._journal as journal_module
from loopml._journal import JournalWriter, try_lock


def test_a_new_journal_is_locked_before_it_is_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.journal"
    seen: list[tuple[bool, bool]] = []
    real_link = os.link

    def link(src: Any, dst: Any) -> None:
        # Just before the journal gets its name: nothing a pass looks for exists yet.
        before = [p.name for p in tmp_path.glob("*.journal")]
        real_link(src, dst)
        fd = try_lock(Path(dst))  # what a recovery pass does right after it appears
        if fd is not None:
            os.close(fd)
        seen.append((before == [], fd is None))

    monkeypatch.setattr(journal_module.os, "link", link)
    writer = JournalWriter(path)
    try:
        assert seen == [(True, True)]  # invisible, then visible and locked
        assert [p.name for p in tmp_path.iterdir()] == ["run.journal"]  # no hidden file left
    finally:
        writer.close(delete=True)


def test_recovery_passes_racing_new_journals_never_take_one(tmp_path: Path) -> None:
    stop = threading.Event()
    taken: list[str] = []

    def probe() -> None:  # a recovery pass, over and over
        while not stop.is_set():
            for p in tmp_path.glob("*.journal"):
                fd = try_lock(p)
                if fd is not None:
                    taken.append(p.name)
                    os.close(fd)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for i in range(300):
            JournalWriter(tmp_path / f"{i}.journal").close(delete=True)
    finally:
        stop.set()
        prober.join()
    assert taken == []


def test_an_existing_journal_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "run.journal"
    first = JournalWriter(path)
    try:
        with pytest.raises(FileExistsError):
            JournalWriter(path)
        assert try_lock(path) is None  # still the first writer's
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run.journal"]
    finally:
        first.close(delete=True)
