"""Progress reporting: a callable ``progress(stage, done, total)``.

``bar()`` gives a rich progress bar on a terminal (stderr), and a silent no-op otherwise, so
``--json`` output and pipes stay clean. rich is imported only when a bar is shown.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

Progress = Callable[[str, int, int], None]


def silent(stage: str, done: int, total: int) -> None:
    pass


def wanted(json_output: bool = False, stream=None) -> bool:
    stream = stream or sys.stderr
    return not json_output and hasattr(stream, "isatty") and stream.isatty()


@contextmanager
def bar(enabled: bool, description: str = "working") -> Iterator[Progress]:
    """Yield a progress callable: a rich bar when ``enabled``, else a no-op."""
    if not enabled:
        yield silent
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

    with RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as rp:
        task = rp.add_task(description, total=None)

        def update(stage: str, done: int, total: int) -> None:
            rp.update(task, description=f"{description}: {stage}", completed=done, total=total or None)

        yield update
