"""Helpers for tests with real concurrent processes: another process that holds a writer lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jedi_academy

_HOLDER = """
import sys
from pathlib import Path
from jedi_academy.store import case_lock, data_dir_lock
data_dir, command, case_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = case_lock(data_dir, case_id, command) if case_id else data_dir_lock(data_dir, command)
with lock:
    print("held", flush=True)
    sys.stdin.read()  # hold until the test closes our stdin
"""


def same_code_env() -> dict[str, str]:
    """The environment for a child process that imports the same ``jedi_academy`` as this one."""
    source = str(Path(jedi_academy.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}


@contextmanager
def lock_held_elsewhere(data_dir: Path, command: str, case_id: str = "") -> Iterator[int]:
    """Another Python process holds the data directory's writer lock (or ``case_id``'s lock) for the block;
    yields its pid."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(data_dir), command, case_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=same_code_env(),
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()  # blocks until the lock is held (or the process died)
        assert line.strip() == "held", f"the lock holder did not start: {line!r}"
        yield holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        deadline = time.monotonic() + 30
        while holder.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if holder.poll() is None:
            holder.kill()
        holder.wait()
