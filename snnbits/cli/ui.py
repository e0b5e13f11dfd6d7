"""Terminal output shared by the subcommands: one rich console, progress bars, tables."""

from __future__ import annotations

import contextlib
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(highlight=False)


def progress() -> Progress:
    """A progress bar on stderr (hidden when stderr is not a terminal)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )


@contextlib.contextmanager
def layer_progress(total: int, description: str):
    """Yields ``advance(name)`` for a layer-by-layer loop."""
    with progress() as p:
        task = p.add_task(description, total=total)
        yield lambda _name=None: p.advance(task)
