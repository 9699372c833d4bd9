"""The progress display of ``academy assess``: one line per administration on stderr."""

from __future__ import annotations

from jedi_academy.progress import Progress


class RunProgress:
    """One line per administration on stderr (the one progress display, ``jedi_academy.progress``): a live
    bar with elapsed time on a terminal, plain lines when stderr is a file; nothing with ``--json``."""

    def __init__(self, total: int, *, quiet: bool) -> None:
        self.total = total
        self.done = 0
        self.display = Progress(quiet=quiet, transient=True)
        self.task = self.display.add("assessing", total=total)

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.display.close()

    def start(self, what: str) -> None:
        if self.display.live is not None:
            self.display.update(self.task, description=what)
        else:
            self.display.line(f"[{self.done + 1}/{self.total}] assessing {what}")

    def advance(self, outcome: str) -> None:
        self.done += 1
        self.display.update(self.task, advance=1)
        self.display.line(f"[{self.done}/{self.total}] {outcome}")
