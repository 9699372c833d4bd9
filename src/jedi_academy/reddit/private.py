"""Private files and folders: whatever ingest writes holds personal data, so only the owner may read it.

Files are also flushed to disk before they are renamed into place, and each rename is flushed, so that a
power cut cannot leave a checkpoint naming a file whose contents never reached the disk. A killed process
needs none of that (the kernel keeps what was written), so ``ACADEMY_INGEST_FSYNC=0`` turns the flushing off
where only that matters: on throwaway data, and in the test suite, whose many tiny checkpoints would
otherwise spend most of their time waiting for the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create ``path`` (and missing parents) as 0700. An existing folder is tightened to 0700 too, unless
    ``tighten`` is false (a folder the user chose, which may hold other things: what ingest writes inside
    it is private anyway)."""
    if not path.exists():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        tighten = True
    if tighten and path.stat().st_mode & 0o777 != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def _fsync_enabled() -> bool:
    return os.environ.get("ACADEMY_INGEST_FSYNC", "1") != "0"


def _fsync(fd: int) -> None:
    if _fsync_enabled():
        os.fsync(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one, never a mix:
    a 0600 temporary file, flushed to disk, then renamed over the target, and the rename itself flushed."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        _fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    sync_dir(path.parent)


def seal(tmp: Path, path: Path) -> None:
    """Finish a file another library wrote to ``tmp``: 0600, flushed to disk, renamed to ``path``."""
    os.chmod(tmp, FILE_MODE)
    if _fsync_enabled():
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, path)
    sync_dir(path.parent)


def sync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    if not _fsync_enabled():
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
