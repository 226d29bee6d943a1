"""The progress bar of training and labelling: rate and ETA on stderr, or nothing.

Beneath both steps (and the inference package they share), so neither imports the other
for it; rich is imported only when a bar is shown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class Progress:
    """What `progress_bar` yields: `advance(n)` moves the bar, `log(text)` prints above it."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar, self._task = bar, task

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def log(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, highlight=False)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True,
                 unit: str = "items", completed: int = 0) -> Iterator[Progress]:
    """A rich progress bar with rate and ETA (nothing at all when not `enabled`)."""
    if not enabled:
        yield Progress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    class Rate(TextColumn):
        def render(self, task: Any) -> Any:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.1f} {unit}/s" if speed else f"? {unit}/s")

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), Rate(""), TimeElapsedColumn(), TimeRemainingColumn()]
    from rich.console import Console

    with RichProgress(*columns, transient=False, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total, completed=completed)
        yield Progress(bar, task)
