"""Shared CLI pieces: the console, formatting of times and values, the error boundary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from rich.text import Text

from loopml._format import fmt_ago, fmt_duration, fmt_time, fmt_value, status_text

__all__ = [
    "Col",
    "console",
    "err_console",
    "fit_table",
    "fmt_ago",
    "fmt_duration",
    "fmt_time",
    "fmt_value",
    "new_table",
    "status_text",
]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def new_table(title: str, *columns: str) -> Table:
    """A table in the CLI's style with plain, left-aligned ``columns``."""
    out = Table(title=title, header_style="bold")
    for col in columns:
        out.add_column(col)
    return out


@dataclass
class Col:
    """A column for :func:`fit_table`: heading, cells, and how it may give way to narrow screens.

    ``priority``: lower numbers stay longest when columns must be dropped. ``wrap``: the cells are
    text that may wrap between words (names); other cells (ids, numbers, dates) never wrap or
    get cut, so a column that does not fit is dropped whole instead.
    """

    header: str
    cells: Sequence[str | Text] = field(default_factory=list)
    priority: int = 50
    justify: str = "left"
    wrap: bool = False
    style: str | None = None


def fit_table(title: str, cols: Sequence[Col], width: int | None = None) -> tuple[Table, list[str]]:
    """A table of ``cols`` that fits ``width`` (default: the console's), and the headers dropped.

    Columns go by priority, the least important first, until the rest fit; a wrapping column
    shrinks to 12 characters before anything is dropped. Numbers are never cut short.
    """
    width = console.width if width is None else width

    def need(c: Col) -> int:
        cells = [len(x) if isinstance(x, str) else x.cell_len for x in c.cells]
        return max([len(c.header), *cells])

    def total(keep: list[Col]) -> int:
        # Each column: its text, a space of padding either side and a border; plus the left edge.
        return 1 + sum((min(need(c), 12) if c.wrap else need(c)) + 3 for c in keep)

    keep = list(cols)
    dropped: list[str] = []
    for c in sorted(cols, key=lambda c: -c.priority):
        if total(keep) <= width or len(keep) == 1:
            break
        keep.remove(c)
        dropped.append(c.header)
    table = Table(title=title, header_style="bold")
    for c in keep:
        table.add_column(
            c.header,
            justify=c.justify,  # type: ignore[arg-type]
            no_wrap=not c.wrap,
            overflow="fold",
            min_width=None if c.wrap else need(c),
            style=c.style,
        )
    for i in range(max((len(c.cells) for c in cols), default=0)):
        table.add_row(*(c.cells[i] for c in keep))
    return table, [h for h in (c.header for c in cols) if h in dropped]
