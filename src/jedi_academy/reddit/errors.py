"""Errors of the ingestion stage."""

from __future__ import annotations

from typing import Any

from jedi_academy.errors import AcademyError


class DumpReadError(AcademyError):
    """A compressed dump that ends early or is corrupt. Offsets say how far reading got."""

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        decompressed_offset: int,
        compressed_offset: int | None = None,
        compressed_size: int | None = None,
    ) -> None:
        self.path = path
        self.reason = reason
        self.decompressed_offset = decompressed_offset
        self.compressed_offset = compressed_offset
        self.compressed_size = compressed_size
        self.line: int | None = None
        self.summary: dict[str, Any] | None = None  # the counts of the partial run, set by the pipeline
        super().__init__(self._compose(), "everything read before this point was kept")

    def at_line(self, line: int) -> DumpReadError:
        """Add the number of the last complete line (the pipeline knows it, the reader does not)."""
        self.line = line
        self.message = self._compose()
        self.args = (self.message,)
        return self

    def _compose(self) -> str:
        where = f"after {self.decompressed_offset:,} bytes of decompressed data"
        if self.line is not None:
            where += f" (line {self.line:,})"
        if self.compressed_offset is not None:
            where += f", compressed byte offset {self.compressed_offset:,}"
            if self.compressed_size is not None:
                where += f" of {self.compressed_size:,}"
        return f"{self.path}: {self.reason} {where}"


class IngestInterrupted(AcademyError):
    """Ctrl-C during ingestion: a checkpoint was saved and ``--resume`` continues."""

    summary: dict[str, Any] | None = None
