"""A small store with everything the dashboard shows: runs, NaN/inf, HTML in names, a sweep.

Used by the API tests and the browser tests (which serve it on a real port).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import loopml

PROJECT = "vision"
EVIL = "<script>alert('pwned')</script>"
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f6c1e60000000049454e44ae426082"
)


@dataclass
class Seeded:
    """Ids of what :func:`seed` created."""

    runs: list[str] = field(default_factory=list)
    evil: str = ""
    nonfinite: str = ""
    with_artifacts: str = ""
    sweep_id: str = ""
    sweep_runs: list[str] = field(default_factory=list)


def seed(tmp: Path, n_runs: int = 8, steps: int = 30) -> Seeded:
    """Log runs into the default session's store; returns their ids."""
    out = Seeded()
    for i in range(n_runs):
        config = {
            "lr": round(0.01 * (i + 1), 4),
            "model": "mlp" if i % 2 else "cnn",
            "layers": 2 + i % 3,
        }
        with loopml.init(
            project=PROJECT,
            name=f"run-{i:02d}",
            config=config,
            tags={"team": "a" if i < 4 else "b"},
        ) as run:
            for s in range(steps):
                run.log({"loss": 1.0 / (s + 1 + i), "acc": 1.0 - 1.0 / (s + 2 + i)}, step=s)
        out.runs.append(run.id)
    with loopml.init(
        project=PROJECT, name=f"evil {EVIL}", config={"note": EVIL}, tags={"html": EVIL}
    ) as run:
        run.log({"loss": 0.5, "acc": 0.5}, step=0)
    out.evil = run.id
    with loopml.init(project=PROJECT, name="nonfinite", config={"lr": 0.5}) as run:
        run.log({"weird": 1.0, "loss": 1.0}, step=0)
        run.log({"weird": math.nan, "loss": 0.9}, step=1)
        run.log({"weird": math.inf, "loss": 0.8}, step=2)
        run.log({"weird": -math.inf, "ninf": -math.inf, "loss": 0.7}, step=3)
        run.log({"weird": math.nan}, step=4)
    out.nonfinite = run.id
    with loopml.init(project=PROJECT, name="with-artifacts") as run:
        run.log({"loss": 0.3}, step=0)
        (tmp / "notes.txt").write_text(f"hello artifact {EVIL}\n")
        (tmp / "table.csv").write_text("a,b\n1,2\n3," + EVIL + "\n")
        (tmp / "page.html").write_text(EVIL)
        run.log_artifact(tmp / "notes.txt")
        run.log_artifact(tmp / "table.csv")
        run.log_artifact(tmp / "page.html")
        (tmp / "dot.png").write_bytes(PNG_1X1)
        run.log_artifact(tmp / "dot.png")
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"x": [1, 2, 3], "label": ["a", EVIL, "c"]}), tmp / "preds.parquet")
        run.log_artifact(tmp / "preds.parquet")
    out.with_artifacts = run.id
    out.sweep_id, out.sweep_runs = seed_sweep(n_trials=6)
    return out


def seed_sweep(n_trials: int = 6, sweep_id: str = "sweep0001") -> tuple[str, list[str]]:
    """Runs that share a ``sweep_id`` (as the sweeps capability writes them)."""
    ids = []
    for i in range(n_trials):
        lr = 10 ** (-4 + 3 * i / max(1, n_trials - 1))
        opt = "adam" if i % 2 else "sgd"
        with loopml.init(project=PROJECT, name=f"trial-{i}", config={"lr": lr, "opt": opt}) as run:
            run.log(
                {"val_loss": abs(math.log10(lr) + 2.5) + (0.3 if opt == "sgd" else 0.0)}, step=0
            )
        ids.append(run.id)
    store = loopml.get_run(ids[0])._store
    assert store is not None
    from sqlalchemy import update

    from loopml.store._engine import run_write
    from loopml.store._schema_runs import runs

    run_write(
        store.engine,
        lambda c: c.execute(update(runs).where(runs.c.id.in_(ids)).values(sweep_id=sweep_id)),
    )
    return sweep_id, ids
