"""One writer per data directory: commands that write shared state (``run``, ``ingest``, ``finetune``,
``dataset build``, and the loop and worker) hold :func:`data_dir_lock` while they work.

The lock is an OS file lock (``filelock``) on ``<data-dir>/.academy.lock``: the operating system releases it
when its process ends, however it ends, so a crash never leaves a stale lock. Next to it,
``.academy.lock.json`` says who holds it, so that a second writer is refused with a message naming the
command, process and start time.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from jedi_academy.errors import AcademyError

LOCK_NAME = ".academy.lock"
HOLDER_NAME = ".academy.lock.json"


class DataDirBusyError(AcademyError):
    """Another academy command is writing to the data directory."""


class DataDirLock:
    """The writer lock of one data directory; use :func:`data_dir_lock` (or ``acquire``/``release``)."""

    def __init__(self, data_dir: Path, command: str, *, wait_s: float = 0.0) -> None:
        self.data_dir = data_dir
        self.command = command
        self.wait_s = wait_s
        self._lock: FileLock | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_s`` seconds; else raise :class:`DataDirBusyError`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.data_dir / LOCK_NAME, thread_local=False)
        try:
            lock.acquire(timeout=self.wait_s)
        except Timeout:
            raise DataDirBusyError(
                f"data directory {self.data_dir} is in use by {self.holder()}",
                "wait for it to finish, or give this command another --data-dir",
            ) from None
        self._lock = lock
        holder = {
            "command": self.command,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (self.data_dir / HOLDER_NAME).write_text(json.dumps(holder), encoding="utf-8")

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def holder(self) -> str:
        try:
            info = json.loads((self.data_dir / HOLDER_NAME).read_text(encoding="utf-8"))
            who = f"pid {info['pid']} on {info['host']}, since {info['started_at']}"
            return f"`academy {info['command']}` ({who})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another academy command"

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def data_dir_lock(data_dir: Path, command: str, *, wait_s: float = 0.0) -> DataDirLock:
    """``with data_dir_lock(settings.data_dir, "ingest"):`` holds the writer lock for the block."""
    return DataDirLock(data_dir, command, wait_s=wait_s)
