"""One progress display for the whole pipeline: a row per stage with its own progress (the one progress
display, ``jedi_academy.progress``: rich on a terminal, plain lines otherwise)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from jedi_academy.progress import Progress

COLUMNS = ("text:{task.fields[key]:28}", "bar:24", "text:{task.fields[status]:8}", "elapsed",
           "text:{task.description}")  # fmt: skip


class StageDisplay:
    def __init__(self, keys: list[str], *, echo: Callable[[str], None] | None = None) -> None:
        self.echo = echo or (lambda text: print(text, file=sys.stderr, flush=True))
        self.display = Progress(COLUMNS)
        self.tasks: dict[str, Any] = {
            key: self.display.add("", key=key, status="pending", total=1, start=False) for key in keys
        }

    @property
    def live(self) -> bool:
        return self.display.live is not None

    def start(self, key: str) -> None:
        if self.live:
            self.display.start(self.tasks[key])
            self.display.update(self.tasks[key], status="running")
        else:
            self.echo(f"[{key}] running")

    def update(self, key: str, text: str, completed: float | None = None, total: float | None = None) -> None:
        fields: dict[str, Any] = {"description": text[:70]}
        if total is not None:
            fields["total"] = total
        if completed is not None:
            fields["completed"] = completed
        self.display.update(self.tasks[key], **fields)

    def finish(self, key: str, status: str, text: str) -> None:
        if self.live:
            self.display.finish(self.tasks[key], status=status, description=text[:70])
        else:
            self.echo(f"[{key}] {status}: {text}")

    def close(self) -> None:
        self.display.close()
