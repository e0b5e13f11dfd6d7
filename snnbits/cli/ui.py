"""Terminal output shared by the subcommands: one rich console, progress bars, safe text.

Text that comes from a user's files (model, layer and cost-table names, paths)
goes through :func:`esc` before it reaches rich (no markup is interpreted, no
control character or escape sequence reaches the terminal), or through
:func:`printable` when it is printed without rich.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

#: the width of output that goes to a file or a pipe (rich's 80 columns would cut the energy
#: tables' numbers to "1.…"); COLUMNS, when set, wins, and a terminal keeps its own width
PIPE_WIDTH = 120


def _width() -> int | None:
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return PIPE_WIDTH


console = Console(highlight=False, width=_width())

# C0 and C1 control characters, DEL, and the Unicode bidirectional overrides
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(m: re.Match) -> str:
    return m.group().encode("unicode_escape").decode("ascii")


def printable(text, keep_newlines: bool = False) -> str:
    """``str(text)`` with every control character shown as an escape (``\\x1b``, ``\\n``, ...)."""
    return (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub(_visible, str(text))


def esc(text) -> str:
    """User-supplied text made safe for rich: control characters escaped, markup escaped."""
    return escape(printable(text))


def plot_text(text) -> str:
    """User-supplied text made safe for a matplotlib label (no mathtext, no control characters)."""
    return printable(text).replace("$", r"\$")


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
