"""Which reader a dump needs, from its file name."""

from __future__ import annotations

from pathlib import Path

from jedi_academy.errors import AcademyError
from jedi_academy.reddit.readers import CODECS, DumpReader, PlainReader, StreamReader

SUFFIXES = {
    ".bz2": "bz2",
    ".zst": "zst",
    ".zstd": "zst",
    ".xz": "xz",
    ".gz": "gz",
    ".ndjson": "plain",
    ".jsonl": "plain",
    ".json": "plain",
}
BZ2_DECODERS = ("auto", "lbzip2", "indexed_bzip2", "python")


def detect_format(path: Path) -> str:
    """``bz2``, ``zst``, ``xz``, ``gz`` or ``plain``. Decompressed Pushshift files have no suffix
    (``RC_2015-01``): those are plain NDJSON too."""
    suffix = path.suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if suffix == "":
        return "plain"
    raise AcademyError(
        f"{path}: unsupported file type '{path.suffix}'",
        "ingest reads .bz2, .zst, .xz, .gz and plain NDJSON (.ndjson, .jsonl, .json or no suffix)",
    )


def check_inputs(paths: list[Path]) -> list[str]:
    """Check every input (none missing, none listed twice) before any work; return their formats in order."""
    if not paths:
        raise AcademyError("no input files", "pass one or more dump files: academy ingest RC_2015-01.bz2")
    formats = [check_input(path) for path in paths]
    resolved = [path.resolve() for path in paths]
    for i, path in enumerate(resolved):
        if path in resolved[:i]:
            raise AcademyError(f"{paths[i]} is listed twice", "pass each file once")
    return formats


def check_input(path: Path) -> str:
    """Fail early, with one clear line, on a path that cannot be ingested; return its format."""
    if not path.exists():
        raise AcademyError(f"{path}: no such file", "check the path")
    if path.is_dir():
        raise AcademyError(f"{path}: is a folder, not a dump file", "pass the dump files themselves")
    if not path.is_file():
        # A pipe or device can be read once only: the checks below, the input's identity (its first MiB)
        # and --resume all need to read the file again.
        raise AcademyError(
            f"{path}: is a pipe or device, not a regular file",
            "save the stream to a file first (ingest reads it more than once, and --resume rereads it)",
        )
    fmt = detect_format(path)
    if fmt == "plain":
        with path.open("rb") as handle:
            head = handle.read(8)
        for codec, (magic, _) in CODECS.items():
            if head.startswith(magic):
                raise AcademyError(
                    f"{path}: looks {codec}-compressed but its name does not say so",
                    f"rename it to end in .{codec}",
                )
    return fmt


def choose_bz2_decoder(requested: str = "auto") -> str:
    from jedi_academy.reddit.bz2_parallel import indexed_bzip2_available, lbzip2_path

    if requested not in BZ2_DECODERS:
        raise AcademyError(f"unknown bz2 decoder '{requested}'", f"choose one of {', '.join(BZ2_DECODERS)}")
    if requested == "lbzip2" and lbzip2_path() is None:
        raise AcademyError(
            "lbzip2 is not installed", "install it (apt-get install lbzip2) or use --bz2-decoder auto"
        )
    if requested == "indexed_bzip2" and not indexed_bzip2_available():
        raise AcademyError("the indexed_bzip2 package is not installed", "use --bz2-decoder auto")
    if requested != "auto":
        return requested
    if lbzip2_path() is not None:
        return "lbzip2"
    return "indexed_bzip2" if indexed_bzip2_available() else "python"


def open_dump(path: Path, *, workers: int = 2, bz2_decoder: str = "auto") -> DumpReader:
    """A reader for ``path`` (see :func:`check_input` for the errors it raises first)."""
    fmt = check_input(path)
    if fmt == "plain":
        return PlainReader(path)
    if fmt == "bz2":
        decoder = choose_bz2_decoder(bz2_decoder)
        _check_magic(path, fmt)
        if decoder == "lbzip2":
            from jedi_academy.reddit.bz2_parallel import Lbzip2Reader, lbzip2_path

            program = lbzip2_path()
            assert program is not None
            return Lbzip2Reader(path, workers, program)
        if decoder == "indexed_bzip2":
            from jedi_academy.reddit.bz2_parallel import IndexedBzip2Reader

            return IndexedBzip2Reader(path, workers)
    return StreamReader(path, fmt)


def _check_magic(path: Path, fmt: str) -> None:
    """The parallel decoders give poor messages for a file that is not bz2 at all."""
    magic = CODECS[fmt][0]
    with path.open("rb") as handle:
        head = handle.read(len(magic))
    if not head.startswith(magic):
        what = "is empty" if not head else f"is not a valid {fmt} file"
        raise AcademyError(f"{path}: {what}", "check the download")
