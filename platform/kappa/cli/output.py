"""Console output shared by the commands: one console, progress, durations."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console

# Wide enough for result tables when output goes to a file or CI log instead of a terminal.
console = Console(highlight=False, width=None if Console().is_terminal else 150)
err_console = Console(stderr=True, highlight=False)


@contextlib.contextmanager
def step(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner whose text follows the work; each message is also kept as a line of history."""
    with console.status(title) as status:
        def progress(message: str) -> None:
            status.update(f"{title}: {message}")
            if not console.is_terminal:
                console.print(f"  {message}")
        yield progress


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
