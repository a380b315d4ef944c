"""Small shared helpers for the benchmark scripts: timing, machine info, a results table.

Stable on purpose; other benchmarks import it (``from _common import ...`` when run as
``python benchmarks/<name>.py``, since the script's folder is on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Row",
    "Timer",
    "fmt_rate",
    "fmt_ratio",
    "fmt_seconds",
    "machine_info",
    "median_time",
    "print_machine",
    "print_table",
    "temp_dir",
]


def machine_info() -> dict[str, str]:
    """CPU model, logical cores, load, memory, OS and Python version of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "?"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "load (1/5/15 min)": load,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def print_machine(title: str = "machine", extra: dict[str, str] | None = None) -> None:
    """Print :func:`machine_info` (and ``extra`` lines, e.g. versions) as a small table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for k, v in {**machine_info(), **(extra or {})}.items():
        table.add_row(k, v)
    Console().print(table)


@contextmanager
def temp_dir(prefix: str = "bench-") -> Iterator[Path]:
    """A fresh temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def median_time(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, list[float]]:
    """Run ``fn`` ``repeat`` times; (median seconds, all samples)."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), samples


def fmt_seconds(s: float | None) -> str:
    """Seconds in the unit that reads best (µs, ms, s)."""
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_rate(per_second: float | None, unit: str = "/s") -> str:
    """A rate with thousands separators (``1,234,567/s``)."""
    if per_second is None:
        return "-"
    if per_second >= 100:
        return f"{per_second:,.0f}{unit}"
    return f"{per_second:,.1f}{unit}"


def fmt_ratio(ours: float | None, theirs: float | None, higher_is_better: bool = True) -> str:
    """How many times better ``ours`` is than ``theirs`` (``12.3x``); ``-`` if unknown."""
    if not ours or not theirs:
        return "-"
    r = ours / theirs if higher_is_better else theirs / ours
    return f"{r:,.1f}x" if r < 100 else f"{r:,.0f}x"


@dataclass
class Row:
    """One line of a side-by-side table."""

    case: str
    ours: str
    theirs: str
    ratio: str = "-"
    target: str = "-"
    ok: bool | None = None
    notes: list[str] = field(default_factory=list)


def print_table(
    rows: Sequence[Row], title: str, ours: str = "loopml", theirs: str = "anchor"
) -> None:
    """Print rows as a rich table: case, ours, theirs, ratio, target (met or not), notes."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True)
    table.add_column("case", overflow="fold")
    table.add_column(ours, justify="right")
    table.add_column(theirs, justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target", justify="right")
    table.add_column("notes", overflow="fold")
    for r in rows:
        mark = "" if r.ok is None else (" [green]met[/]" if r.ok else " [red]missed[/]")
        table.add_row(r.case, r.ours, r.theirs, r.ratio, r.target + mark, "\n".join(r.notes))
    Console(width=max(160, Console().width)).print(table)


if __name__ == "__main__":  # ``make bench`` runs every script here; this one just says where
    print_machine()
    print(
        f"(helper module; run the benchmarks next to it, e.g. {sys.executable} benchmarks/tracking.py)"
    )


def mlflow_template_rows(engine: Any, run_id: str) -> tuple[dict, list[dict], dict, dict]:
    """The rows MLflow wrote for one run (run, tags, a metric, its latest value).

    Benchmarks copy them with new ids to seed thousands of MLflow runs in bulk, since seeding
    through MLflow's API would take longer than the measurement itself.
    """
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlRun, SqlTag
    from sqlalchemy import select

    with engine.connect() as conn:
        run_row = dict(
            conn.execute(select(SqlRun.__table__).where(SqlRun.run_uuid == run_id)).mappings().one()
        )
        tag_rows = [
            dict(r)
            for r in conn.execute(
                select(SqlTag.__table__).where(SqlTag.run_uuid == run_id)
            ).mappings()
        ]
        metric_row = dict(
            conn.execute(select(SqlMetric.__table__).where(SqlMetric.run_uuid == run_id))
            .mappings()
            .first()
        )
        latest_row = dict(
            conn.execute(
                select(SqlLatestMetric.__table__).where(SqlLatestMetric.run_uuid == run_id)
            )
            .mappings()
            .first()
        )
    return run_row, tag_rows, metric_row, latest_row
