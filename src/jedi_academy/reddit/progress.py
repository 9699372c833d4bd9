"""Progress reporting: a rich bar on a terminal (compressed bytes read, lines/s), nothing otherwise."""

from __future__ import annotations

import time
from typing import Any, Protocol


class ProgressSink(Protocol):
    def start_file(
        self, name: str, total: int, decoder: str, *, completed: int = 0, lines: int = 0
    ) -> None: ...

    def update(self, compressed_pos: int, lines: int) -> None: ...

    def finish_file(self) -> None: ...

    def close(self) -> None: ...


class NullProgress:
    def start_file(self, name: str, total: int, decoder: str, *, completed: int = 0, lines: int = 0) -> None:
        pass

    def update(self, compressed_pos: int, lines: int) -> None:
        pass

    def finish_file(self) -> None:
        pass

    def close(self) -> None:
        pass


class RichProgress:
    """One bar per input file, on stderr (the one progress display, ``jedi_academy.progress``)."""

    def __init__(self) -> None:
        from jedi_academy.progress import Progress

        self._progress = Progress(
            ["text:{task.description}", "bar", "bytes", "speed", "text:{task.fields[rate]}", "remaining"]
        )
        self._task: Any = None
        self._total = 0
        self._started = 0.0
        self._first_lines = 0

    def start_file(self, name: str, total: int, decoder: str, *, completed: int = 0, lines: int = 0) -> None:
        self._task = self._progress.add(f"{name} [{decoder}]", total=total, completed=completed, rate="")
        self._total = total
        self._started = time.monotonic()
        self._first_lines = lines  # a resumed file counts its rate from the checkpoint on

    def update(self, compressed_pos: int, lines: int) -> None:
        if self._task is None:
            return
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = f"{(lines - self._first_lines) / elapsed:,.0f} lines/s"
        self._progress.update(self._task, completed=compressed_pos, rate=rate)

    def finish_file(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._total)
        self._task = None

    def message(self, text: str) -> None:
        """Print above the bar."""
        self._progress.line(text)

    def close(self) -> None:
        self._progress.close()
