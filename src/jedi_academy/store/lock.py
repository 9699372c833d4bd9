"""Writer locks. Every service that writes shared state takes one inside the service (never only in a CLI
handler), so the command line, the web app and the worker are refused alike.

Two granularities (docs/configuration.md lists which service takes which):

* :func:`data_dir_lock`, one writer per data directory: ``run``, ``ingest``, ``finetune``, ``dataset build``,
  the loop (``academy loop``, ``experiment therapists`` and every job an ``academy worker`` runs), ``ledger
  backfill`` and ``portfolio build``.
* :func:`case_lock`, one writer per case: ``session end``, ``case branch``/``case switch`` and the loop.
  Sessions are interactive and must go on while a worker trains another case, so they do not take the
  data-directory lock; the loop takes the case lock of its case after the data-directory lock (always in that
  order, so two writers never wait on each other in a circle).

Both are OS file locks (``filelock``): the operating system releases them when their process ends, however it
ends, so a crash never leaves a stale lock. Next to each, ``<lock>.json`` says who holds it, so that a second
writer is refused with one line naming the command, process and start time. A lock is re-entrant within one
thread (a service that holds the data-directory lock may call another service that takes it again); two
threads of one process (the web app's requests and its in-process worker) exclude each other like two
processes, since each acquisition opens its own file descriptor and ``flock`` locks belong to it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from jedi_academy.errors import AcademyError

LOCK_NAME = ".academy.lock"
HOLDER_NAME = ".academy.lock.json"
CASE_LOCKS = "locks"

# (path, thread) -> (the held FileLock, how many nested holders in that thread)
_HELD: dict[tuple[Path, int], tuple[FileLock, int]] = {}
_HELD_GUARD = threading.Lock()


class DataDirBusyError(AcademyError):
    """Another academy command is writing to the data directory (or to the same case)."""


class DataDirLock:
    """One writer lock file; use :func:`data_dir_lock` or :func:`case_lock` (or ``acquire``/``release``)."""

    def __init__(
        self,
        data_dir: Path,
        command: str,
        *,
        wait_s: float = 0.0,
        lock_path: Path | None = None,
        what: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.command = command
        self.wait_s = wait_s
        self.path = Path(lock_path or Path(data_dir) / LOCK_NAME).resolve()
        self.holder_path = self.path.with_name(
            HOLDER_NAME if lock_path is None else f"{self.path.name}.json"
        )
        self.what = what or f"data directory {data_dir}"
        self._key: tuple[Path, int] | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_s`` seconds; else raise :class:`DataDirBusyError`."""
        key = (self.path, threading.get_ident())
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is not None:  # this thread already holds it: nested service calls share it
                _HELD[key] = (held[0], held[1] + 1)
                self._key = key
                return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path, thread_local=False)
        try:
            lock.acquire(timeout=self.wait_s)
        except Timeout:
            raise DataDirBusyError(
                f"{self.what} is in use by {self.holder()}",
                "wait for it to finish, or give this command another --data-dir",
            ) from None
        with _HELD_GUARD:
            _HELD[key] = (lock, 1)
        self._key = key
        holder = {
            "command": self.command,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.holder_path.write_text(json.dumps(holder), encoding="utf-8")

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        with _HELD_GUARD:
            lock, count = _HELD[key]
            if count > 1:
                _HELD[key] = (lock, count - 1)
                return
            del _HELD[key]
        lock.release()

    def held_by(self) -> str | None:
        """The command that holds this lock now (``"loop"``), or None when nobody does. Takes and drops the
        lock at once when it is free, so it never waits."""
        with _HELD_GUARD:
            mine = any(path == self.path for path, _thread in _HELD)
        if not mine:
            if not self.path.exists():
                return None
            probe = FileLock(self.path, thread_local=False)
            try:
                probe.acquire(timeout=0)
            except Timeout:
                pass
            else:
                probe.release()
                return None
        try:
            return str(json.loads(self.holder_path.read_text(encoding="utf-8"))["command"])
        except (OSError, ValueError, KeyError, TypeError):
            return "?"

    def holder(self) -> str:
        try:
            info = json.loads(self.holder_path.read_text(encoding="utf-8"))
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


def case_lock(data_dir: Path, case_id: str, command: str, *, wait_s: float = 0.0) -> DataDirLock:
    """``with case_lock(data_dir, case_id, "session end"):`` one writer per case, side by side with writers
    of other cases (``<data-dir>/locks/case-<id>.lock``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", case_id)
    return DataDirLock(
        data_dir,
        command,
        wait_s=wait_s,
        lock_path=Path(data_dir) / CASE_LOCKS / f"case-{safe}.lock",
        what=f"case {case_id}",
    )
