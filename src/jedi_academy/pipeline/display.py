"""One progress display for the whole pipeline: a row per stage with its own progress (rich on a terminal,
plain lines otherwise)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class StageDisplay:
    def __init__(self, keys: list[str], *, echo: Callable[[str], None] | None = None) -> None:
        self.echo = echo or (lambda text: print(text, file=sys.stderr, flush=True))
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}
        if sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.fields[key]:28}"),
                BarColumn(bar_width=24),
                TextColumn("{task.fields[status]:8}"),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
            )
            for key in keys:
                self.tasks[key] = self.progress.add_task("", key=key, status="pending", total=1, start=False)
            self.progress.start()

    def start(self, key: str) -> None:
        if self.progress is not None:
            self.progress.start_task(self.tasks[key])
            self.progress.update(self.tasks[key], status="running")
        else:
            self.echo(f"[{key}] running")

    def update(self, key: str, text: str, completed: float | None = None, total: float | None = None) -> None:
        if self.progress is None:
            return
        fields: dict[str, Any] = {"description": text[:70]}
        if total is not None:
            fields["total"] = total
        if completed is not None:
            fields["completed"] = completed
        self.progress.update(self.tasks[key], **fields)

    def finish(self, key: str, status: str, text: str) -> None:
        if self.progress is not None:
            task = self.tasks[key]
            if not self.progress.tasks[task].started:
                self.progress.start_task(task)
            total = self.progress.tasks[task].total or 1
            self.progress.update(task, status=status, description=text[:70], completed=total)
            self.progress.stop_task(task)
        else:
            self.echo(f"[{key}] {status}: {text}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
