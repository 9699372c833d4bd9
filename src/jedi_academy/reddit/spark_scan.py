"""The Spark engine's per-file task: scan one dump with the local engine's reader, prefilter and per-record
functions, and write every comment that passes the keep rules to a staging Parquet file, once per target
specialization, with its dedupe digest and its position in the input (file, decompressed byte offset).

Nothing here imports pyspark: the task is a plain function of plain data, so it runs the same in a Spark
executor and in a test. Duplicates are not dropped here; the driver drops them globally (first seen wins).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from jedi_academy.errors import AcademyError
from jedi_academy.reddit.counts import IngestCounts
from jedi_academy.reddit.errors import DumpReadError
from jedi_academy.reddit.formats import open_dump
from jedi_academy.reddit.prefilter import SubredditPrefilter
from jedi_academy.reddit.privacy import Pseudonymizer
from jedi_academy.reddit.rules import KeepRules, RuleChecker, dedupe_key
from jedi_academy.reddit.scanner import count_newlines, scan, to_row

FLUSH_ROWS = 20_000

# One row per (kept comment, target specialization). ``file_index`` and ``offset`` order comments as the
# local engine reads them; ``digest`` is null when the rules keep duplicates.
CANDIDATE_SCHEMA = pa.schema(
    [
        pa.field("spec", pa.string(), nullable=False),
        pa.field("file_index", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("subreddit_key", pa.string(), nullable=False),
        pa.field("digest", pa.binary()),
        pa.field("id", pa.string(), nullable=False),
        pa.field("author", pa.string()),
        pa.field("subreddit", pa.string(), nullable=False),
        pa.field("created_utc", pa.int64(), nullable=False),
        pa.field("score", pa.int64()),
        pa.field("body", pa.string(), nullable=False),
    ]
)
ROW_COLUMNS = ("id", "author", "subreddit", "created_utc", "score", "body")


@dataclass(frozen=True)
class ScanJob:
    """What every task needs (shipped to the executors with the task, key included)."""

    key: bytes
    rules: dict[str, Any]  # KeepRules as JSON
    sub_to_specs: dict[str, tuple[str, ...]]  # lower-case subreddit -> specialization ids
    staging: str  # folder the tasks write their candidate files to (shared with the driver)
    bz2_decoder: str = "auto"
    workers: int = 1  # decoder threads per task


def scan_file(job: ScanJob, file_index: int, path: str, attempt: int = 0) -> dict[str, Any]:
    """Scan one input file. Returns ``{"file_index", "candidates", "rows", "counts", "file", "error"}``:
    the candidate file written, the per-file counts (as :meth:`IngestCounts.to_state`), the file record,
    and, for a truncated or corrupt file, the error (everything read before it is kept, as locally)."""
    target = Path(job.staging) / f"file-{file_index:05d}-attempt-{attempt}.parquet"
    collector = CandidateCollector(job, file_index, target)
    error: dict[str, Any] | None = None
    decoder = "?"
    try:
        with open_dump(Path(path), workers=job.workers, bz2_decoder=job.bz2_decoder) as reader:
            decoder = reader.decoder

            def on_chunk(offset: int, lines: int) -> None:
                collector.reached = (offset, lines)

            scan(reader, collector, path=path, line=0, on_chunk=on_chunk)
    except DumpReadError as exc:
        detail = {
            "path": exc.path,
            "reason": exc.reason,
            "decompressed_offset": exc.decompressed_offset,
            "compressed_offset": exc.compressed_offset,
            "compressed_size": exc.compressed_size,
            "line": exc.line,
        }
        error = {"kind": "read", "message": exc.message, "hint": exc.hint, "detail": detail}
    except AcademyError as exc:
        error = {"kind": "input", "message": exc.message, "hint": exc.hint}
    finally:
        collector.close()
    offset, lines = collector.reached
    counts = collector.counts
    counts.lines_read = lines
    record = {
        "name": Path(path).name,
        "decoder": decoder,
        "lines": lines,
        "decompressed_bytes": offset,
        "complete": error is None,
    }
    return {
        "file_index": file_index,
        "candidates": str(target),
        "rows": collector.rows_written,
        "counts": counts.to_state(),
        "file": record,
        "error": error,
    }


class CandidateCollector:
    """A selector for :func:`jedi_academy.reddit.scanner.scan`: the local engine's prefilter, JSON parse
    and keep rules; rows go to a staging file instead of the comment writer."""

    def __init__(self, job: ScanJob, file_index: int, target: Path) -> None:
        self.sub_to_specs = job.sub_to_specs
        self.prefilter = SubredditPrefilter(job.sub_to_specs)
        rules = KeepRules.model_validate(job.rules)
        self.checker = RuleChecker(rules)
        self.dedupe = rules.dedupe_bodies
        self.pseudonymizer = Pseudonymizer(job.key)
        self.file_index = file_index
        self.counts = IngestCounts()
        self.reached = (0, 0)  # (decompressed offset, lines) after the last complete chunk
        self._base = 0  # decompressed offset of the buffer handed to process()
        self._target = target
        self._tmp = target.with_name(target.name + ".tmp")
        self._writer = pq.ParquetWriter(self._tmp, CANDIDATE_SCHEMA, compression="zstd")
        self._columns: dict[str, list[Any]] = {name: [] for name in CANDIDATE_SCHEMA.names}
        self.rows_written = 0

    def process(self, buf: bytes, end: int, line: int, path: str) -> int:
        """Same contract as ``Selector.process``. ``scan`` hands over each buffer starting just after the
        last complete line of the previous one, so the buffer's offset is the sum of the previous ends."""
        for start, stop in self.prefilter.candidate_lines(buf, end):
            problem = self._candidate(buf[start:stop], self._base + start)
            if problem is not None:
                lineno = line + buf.count(b"\n", 0, start) + 1
                self.counts.add_malformed(path, lineno, problem)
        self._base += end
        return line + count_newlines(buf, end)

    def _candidate(self, raw: bytes, offset: int) -> str | None:
        counts = self.counts
        try:
            comment = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return str(exc)
        if not isinstance(comment, dict):
            return f"a JSON {type(comment).__name__}, not an object"
        subreddit = comment.get("subreddit")
        key = subreddit.lower() if isinstance(subreddit, str) else None
        targets = self.sub_to_specs.get(key) if key is not None else None
        if not targets:
            counts.prefilter_false_positives += 1
            return None
        counts.matched += 1
        reason = self.checker.reason_to_drop(comment)
        if reason is not None:
            counts.dropped[reason] += 1
            return None
        digest = self.pseudonymizer.body_digest(dedupe_key(comment["body"])) if self.dedupe else None
        row = to_row(comment, self.pseudonymizer)
        for spec_id in targets:
            self._add(spec_id, offset, key, digest, row)
        return None

    def _add(self, spec_id: str, offset: int, key: Any, digest: bytes | None, row: tuple[Any, ...]) -> None:
        columns = self._columns
        columns["spec"].append(spec_id)
        columns["file_index"].append(self.file_index)
        columns["offset"].append(offset)
        columns["subreddit_key"].append(key)
        columns["digest"].append(digest)
        for name, value in zip(ROW_COLUMNS, row, strict=True):
            columns[name].append(value)
        if len(columns["spec"]) >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._columns["spec"]:
            self._writer.write_table(pa.table(self._columns, schema=CANDIDATE_SCHEMA))
            self.rows_written += len(self._columns["spec"])
            self._columns = {name: [] for name in CANDIDATE_SCHEMA.names}

    def close(self) -> None:
        """Write what is buffered and publish the file under its final name (a retried task rewrites it)."""
        self._flush()
        self._writer.close()
        os.replace(self._tmp, self._target)


def task(job: ScanJob) -> Callable[[tuple[int, str]], dict[str, Any]]:
    """The function Spark maps over ``(file_index, path)`` pairs; it names each output after the attempt,
    so a speculative or retried attempt never writes over another one's file."""

    def run(item: tuple[int, str]) -> dict[str, Any]:
        from pyspark import TaskContext

        context = TaskContext.get()
        attempt = context.attemptNumber() if context is not None else 0
        return scan_file(job, item[0], item[1], attempt)

    return run
