"""Streaming readers for dumps: plain NDJSON and the single-threaded codecs (gzip, xz, bz2, zstd).

Each reader returns decompressed bytes in bounded pieces (constant memory whatever the file size), knows how
many compressed bytes it has consumed (for the progress bar and error messages), and turns every decoder
failure into a :class:`DumpReadError` naming the file and the offsets reached.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from pathlib import Path
from typing import Any, Protocol

from jedi_academy.reddit.errors import DumpReadError

INPUT_CHUNK = 1 << 20
OUTPUT_LIMIT = 4 << 20  # most decompressed bytes produced per decoder call


class DumpReader:
    """Base reader. ``position`` counts decompressed bytes returned so far."""

    decoder = "plain"
    compressed_pos_exact = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.compressed_size = path.stat().st_size
        self.position = 0

    @property
    def compressed_pos(self) -> int:
        raise NotImplementedError

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes; ``b""`` only at the end."""
        raise NotImplementedError

    def skip(self, size: int) -> None:
        """Discard the next ``size`` decompressed bytes (resume). Without an index, decoding is the only way
        to get there, but it costs no parsing."""
        remaining = size
        while remaining > 0:
            piece = self.read(min(remaining, 8 << 20))
            if not piece:
                raise DumpReadError(
                    str(self.path),
                    "is shorter than the checkpoint says",
                    decompressed_offset=self.position,
                    compressed_offset=self.compressed_pos,
                    compressed_size=self.compressed_size,
                )
            remaining -= len(piece)

    def close(self) -> None:
        pass

    def __enter__(self) -> DumpReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, reason: str) -> DumpReadError:
        return DumpReadError(
            str(self.path),
            reason,
            decompressed_offset=self.position,
            compressed_offset=self.compressed_pos if self.compressed_pos_exact else None,
            compressed_size=self.compressed_size,
        )


class PlainReader(DumpReader):
    decoder = "plain"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._file = path.open("rb", buffering=0)

    @property
    def compressed_pos(self) -> int:
        return self.position

    def read(self, size: int) -> bytes:
        data = self._file.read(size)
        self.position += len(data)
        return data

    def skip(self, size: int) -> None:
        if size > self.compressed_size:
            raise self._error("is shorter than the checkpoint says")
        self._file.seek(size)
        self.position = size

    def close(self) -> None:
        self._file.close()


class _Stream(Protocol):
    """One compressed stream (bz2 stream, xz stream, gzip member, zstd frame) being decoded."""

    # read-only here: a decompressor's own attributes (bz2, lzma) are read-only properties
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes) -> bytes: ...


class _Delegating:
    """End-of-stream state comes straight from the wrapped decompressor."""

    _inner: Any

    @property
    def eof(self) -> bool:
        return self._inner.eof

    @property
    def unused_data(self) -> bytes:
        return self._inner.unused_data


class _LimitedStream(_Delegating):
    """bz2 and lzma decompressors: they bound their output themselves (``max_length``)."""

    def __init__(self, inner: bz2.BZ2Decompressor | lzma.LZMADecompressor) -> None:
        self._inner = inner

    @property
    def needs_input(self) -> bool:
        return self._inner.needs_input

    def decompress(self, data: bytes) -> bytes:
        return self._inner.decompress(data, OUTPUT_LIMIT)


class _PendingInput(_Delegating):
    """Decompressors that cannot bound their output by themselves: unread input waits in ``_pending``."""

    _pending = b""

    @property
    def needs_input(self) -> bool:
        return not self._pending


class _ZlibStream(_PendingInput):
    """gzip members: zlib hands back what it could not consume yet in ``unconsumed_tail``."""

    def __init__(self) -> None:
        self._inner = zlib.decompressobj(wbits=31)

    def decompress(self, data: bytes) -> bytes:
        out = self._inner.decompress(self._pending + data, OUTPUT_LIMIT)
        self._pending = self._inner.unconsumed_tail
        return out


class _ZstdStream(_PendingInput):
    """zstd frames. The decompressor has no output bound, so input goes in small slices."""

    SLICE = 128 << 10

    def __init__(self) -> None:
        import zstandard

        # Pushshift and Arctic Shift dumps are compressed with a 2 GiB window (--long=31).
        self._inner = zstandard.ZstdDecompressor(max_window_size=2**31).decompressobj()

    def decompress(self, data: bytes) -> bytes:
        pending = self._pending + data
        self._pending = pending[self.SLICE :]
        return self._inner.decompress(pending[: self.SLICE])


def _zstd_errors() -> tuple[type[Exception], ...]:
    import zstandard

    return (zstandard.ZstdError,)


CODECS: dict[str, tuple[bytes, str]] = {
    "bz2": (b"BZh", "bz2 (stdlib, 1 thread)"),
    "xz": (b"\xfd7zXZ\x00", "xz (stdlib)"),
    "gz": (b"\x1f\x8b", "gzip (stdlib)"),
    "zst": (b"\x28\xb5\x2f\xfd", "zstd"),
}


def _new_stream(codec: str) -> _Stream:
    if codec == "bz2":
        return _LimitedStream(bz2.BZ2Decompressor())
    if codec == "xz":
        return _LimitedStream(lzma.LZMADecompressor(format=lzma.FORMAT_XZ))
    if codec == "gz":
        return _ZlibStream()
    return _ZstdStream()


class StreamReader(DumpReader):
    """Decodes a file of one or more concatenated streams (multi-stream bz2, multi-member gzip, ...)."""

    def __init__(self, path: Path, codec: str) -> None:
        super().__init__(path)
        self.codec = codec
        self.magic, self.decoder = CODECS[codec]
        self._file = path.open("rb", buffering=0)
        self._read_bytes = 0
        self._input = b""  # compressed bytes read from the file but not yet given to a stream
        self._stream: _Stream | None = None
        self._finished = False
        self._held = b""  # decoded bytes not yet handed out
        self._errors: tuple[type[Exception], ...] = (
            OSError,
            EOFError,
            ValueError,
            lzma.LZMAError,
            zlib.error,
        )
        if codec == "zst":
            self._errors = (*self._errors, *_zstd_errors())

    @property
    def compressed_pos(self) -> int:
        return self._read_bytes - len(self._input)

    def _more_input(self) -> bool:
        chunk = self._file.read(INPUT_CHUNK)
        self._read_bytes += len(chunk)
        self._input += chunk
        return bool(chunk)

    def _start_stream(self) -> bool:
        """Begin the next stream, or report that the file is done. Trailing NUL padding is allowed."""
        while len(self._input) < len(self.magic) and self._more_input():
            pass
        while self._input and not self._input.strip(b"\0"):
            self._input = b""
            if not self._more_input():
                break
        if not self._input:
            if self._read_bytes == 0:
                raise self._error(f"is empty (not a valid {self.codec} file)")
            return False
        if not self._input.startswith(self.magic):
            what = (
                "is not a valid" if self._read_bytes - len(self._input) == 0 else "has unexpected data in a"
            )
            raise self._error(f"{what} {self.codec} file")
        self._stream = _new_stream(self.codec)
        return True

    def read(self, size: int) -> bytes:
        if not self._held:
            self._held = self._decode()
        piece, self._held = self._held[:size], self._held[size:]
        self.position += len(piece)
        return piece

    def _decode(self) -> bytes:
        """The next non-empty piece of output (at most OUTPUT_LIMIT bytes), or ``b""`` at the end."""
        while not self._finished:
            if self._stream is None and not self._start_stream():
                self._finished = True
                break
            stream = self._stream
            assert stream is not None
            if stream.needs_input and not self._input and not self._more_input():
                raise self._error("compressed data ends early (truncated file)")
            data, self._input = (self._input, b"") if stream.needs_input else (b"", self._input)
            try:
                out = stream.decompress(data)
            except self._errors as exc:
                raise self._error(f"compressed data is corrupt ({exc})") from exc
            if stream.eof:
                self._input = stream.unused_data + self._input
                self._stream = None
            if out:
                return out
        return b""

    def close(self) -> None:
        self._file.close()
