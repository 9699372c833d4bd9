"""The one progress display: rich's live bars on stderr when stderr is a terminal; otherwise plain lines (only
what the caller prints with ``line``) or nothing at all (``quiet``, e.g. under ``--json``).

Every stage that shows progress (``assess``, ``ingest``, ``pipeline``, ``finetune``) builds its display from
this class and a list of columns, so the terminal handling (stderr, start/stop, printing above a live bar)
lives here once. Columns are named, not rich objects, so no caller imports rich (a slow import) at start-up:

- ``"text:<template>"``: a text column (``{task.description}``, ``{task.fields[loss]:.4f}``...);
- ``"bar"`` or ``"bar:<width>"``; ``"count"`` (3/10); ``"elapsed"``; ``"remaining"``; ``"bytes"``
  (done/total bytes); ``"speed"`` (bytes per second).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.progress import TaskID


def _column(spec: str) -> Any:
    from rich import progress as rich

    name, _, argument = spec.partition(":")
    if name == "text":
        return rich.TextColumn(argument)
    if name == "bar":
        return rich.BarColumn(bar_width=int(argument) if argument else 40)
    simple = {
        "count": rich.MofNCompleteColumn,
        "elapsed": rich.TimeElapsedColumn,
        "remaining": rich.TimeRemainingColumn,
        "bytes": rich.DownloadColumn,
        "speed": rich.TransferSpeedColumn,
    }
    if name not in simple:
        raise ValueError(f"unknown progress column {spec!r}")
    return simple[name]()


class Progress:
    """Bars (tasks) on one live display, or plain lines. A task id is returned by ``add`` (None when there
    is no live display: every other method then does nothing with it)."""

    def __init__(
        self,
        columns: Sequence[str] = ("text:{task.description}", "bar", "count", "elapsed"),
        *,
        quiet: bool = False,
        transient: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.live: Any = None
        if not quiet and self.stream.isatty():
            from rich.console import Console
            from rich.progress import Progress as Live

            console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self.live = Live(*(_column(c) for c in columns), console=console, transient=transient)
            self.live.start()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def add(
        self, description: str = "", *, total: float | None = None, completed: float = 0, start: bool = True,
        **fields: Any,
    ) -> TaskID | None:  # fmt: skip
        if self.live is None:
            return None
        return self.live.add_task(description, total=total, completed=completed, start=start, **fields)

    def update(self, task: TaskID | None, **changes: Any) -> None:
        """rich's ``update``: ``completed``, ``advance``, ``total``, ``description`` or a task field."""
        if self.live is not None and task is not None:
            self.live.update(task, **changes)

    def start(self, task: TaskID | None) -> None:
        if self.live is not None and task is not None:
            self.live.start_task(task)

    def finish(self, task: TaskID | None, **changes: Any) -> None:
        """Fill the task's bar and stop its clock (started first, if it never was)."""
        if self.live is None or task is None:
            return
        state = self.live.tasks[task]
        if not state.started:
            self.live.start_task(task)
        self.live.update(task, completed=state.total or 1, **changes)
        self.live.stop_task(task)

    def line(self, text: str) -> None:
        """A line for the reader: above the live bars, or a plain line on stderr; nothing when quiet."""
        if self.live is not None:
            self.live.console.print(text, markup=False, highlight=False)
        elif not self.quiet:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
