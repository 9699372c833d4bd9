"""The progress display of ``academy assess``: one line per administration on stderr."""

from __future__ import annotations

import sys
from typing import Any

import typer


class RunProgress:
    """One line per administration on stderr: a live bar with elapsed time on a terminal, plain lines when
    stderr is a file; nothing with ``--json``."""

    def __init__(self, total: int, *, quiet: bool) -> None:
        self.total = total
        self.done = 0
        self.quiet = quiet
        self.live: Any = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.live = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=Console(stderr=True), transient=True,
            )  # fmt: skip
            self.task = self.live.add_task("assessing", total=total)

    def __enter__(self) -> RunProgress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def start(self, what: str) -> None:
        if self.live is not None:
            self.live.update(self.task, description=what)
        elif not self.quiet:
            typer.echo(f"[{self.done + 1}/{self.total}] assessing {what}", err=True)

    def advance(self, outcome: str) -> None:
        self.done += 1
        if self.live is not None:
            self.live.advance(self.task)
            self.live.console.print(f"[{self.done}/{self.total}] {outcome}", highlight=False)
        elif not self.quiet:
            typer.echo(f"[{self.done}/{self.total}] {outcome}", err=True)
