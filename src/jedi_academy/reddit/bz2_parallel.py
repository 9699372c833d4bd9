"""Parallel bz2 decoding: the ``lbzip2`` program when installed, else the ``indexed_bzip2`` library.

A single-stream bz2 file (like every Pushshift month) decodes on one core with the stdlib; both of these
find block boundaries themselves and decode blocks on several cores.
"""

from __future__ import annotations

import bz2
import contextlib
import shutil
import subprocess
import threading
from pathlib import Path

from jedi_academy.reddit.readers import INPUT_CHUNK, DumpReader

F_SETPIPE_SZ = 1031  # Linux: larger pipes mean fewer context switches between lbzip2 and us
PIPE_SIZE = 1 << 20
SUB_READ = 1 << 20


def lbzip2_path() -> str | None:
    return shutil.which("lbzip2")


def indexed_bzip2_available() -> bool:
    try:
        import indexed_bzip2  # noqa: F401
    except ImportError:
        return False
    return True


class Lbzip2Reader(DumpReader):
    """Runs ``lbzip2 -d -n WORKERS``; a thread feeds it the file, so we know how many compressed bytes went
    in. lbzip2 runs in its own process group: Ctrl-C reaches only us, and we stop it cleanly."""

    def __init__(self, path: Path, workers: int, program: str) -> None:
        super().__init__(path)
        self.decoder = f"lbzip2 -n {workers}"
        self._source = path.open("rb", buffering=0)
        self._fed = 0
        self._proc = subprocess.Popen(
            [program, "-d", "-c", "-n", str(workers)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        for pipe in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError, ImportError):
                import fcntl

                fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, PIPE_SIZE)
        self._out = self._proc.stdout
        self._feeder = threading.Thread(target=self._feed, name="lbzip2-feeder", daemon=True)
        self._feeder.start()
        self._done = False

    @property
    def compressed_pos(self) -> int:
        return self._fed

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            while chunk := self._source.read(INPUT_CHUNK):
                stdin.write(chunk)
                self._fed += len(chunk)
        except (BrokenPipeError, ValueError, OSError):
            pass  # lbzip2 stopped (corrupt data, or we closed it): read() reports why
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def read(self, size: int) -> bytes:
        if self._done:
            return b""
        pieces = []
        wanted = size
        while wanted > 0:  # the pipe hands out at most its size at a time; callers want large pieces
            piece = self._out.read(wanted)
            if not piece:
                break
            pieces.append(piece)
            wanted -= len(piece)
        if pieces:
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            self.position += len(data)
            return data
        self._done = True
        code = self._proc.wait()
        self._feeder.join()
        if code != 0:
            assert self._proc.stderr is not None
            detail = self._proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
            reason = detail[-1].split(": ", 2)[-1] if detail else f"lbzip2 exited with status {code}"
            raise self._error(f"compressed data ends early or is corrupt ({reason})")
        return b""

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()
        self._feeder.join(timeout=5)
        self._source.close()


class IndexedBzip2Reader(DumpReader):
    """``indexed_bzip2`` decodes blocks on ``workers`` threads inside this process. It does not say how far
    into the compressed file it is, so the progress position is estimated from the compression ratio of the
    first block."""

    compressed_pos_exact = False

    def __init__(self, path: Path, workers: int) -> None:
        import indexed_bzip2

        super().__init__(path)
        self.decoder = f"indexed_bzip2 x{workers}"
        self._ratio = _first_block_ratio(path)
        self._file = indexed_bzip2.open(str(path), parallelization=workers)
        self._done = False

    @property
    def compressed_pos(self) -> int:
        if self._done:
            return self.compressed_size
        return min(self.compressed_size, int(self.position / self._ratio))

    def read(self, size: int) -> bytes:
        if self._done:
            return b""
        try:
            # Small reads: a failing read loses its partially decoded data, so keep that part small.
            data = self._file.read(min(size, SUB_READ))
        except Exception as exc:  # the library raises RuntimeError/ValueError with terse messages
            self._done = True
            detail = str(exc) if str(exc) and str(exc) != "std::exception" else type(exc).__name__
            raise self._error(f"compressed data ends early or is corrupt ({detail})") from exc
        if not data:
            self._done = True
        self.position += len(data)
        return data

    def close(self) -> None:
        self._file.close()


def _first_block_ratio(path: Path) -> float:
    decoder = bz2.BZ2Decompressor()
    consumed = 0
    produced = 0
    with path.open("rb") as handle:
        while produced == 0 and consumed < (4 << 20):
            chunk = handle.read(16 << 10)  # small steps: stop right after the first block
            if not chunk:
                break
            try:
                produced += len(decoder.decompress(chunk, 64 << 20))
            except (OSError, EOFError):
                break
            consumed += len(chunk)
            if decoder.eof:
                break
    return max(1.0, produced / consumed) if consumed and produced else 5.8
