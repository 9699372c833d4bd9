"""The hot path: find candidate lines in decompressed chunks, confirm them, apply the rules, keep rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import orjson

from jedi_academy.errors import AcademyError
from jedi_academy.reddit.counts import IngestCounts
from jedi_academy.reddit.errors import DumpReadError
from jedi_academy.reddit.prefilter import SubredditPrefilter
from jedi_academy.reddit.privacy import Pseudonymizer, scrub
from jedi_academy.reddit.readers import DumpReader
from jedi_academy.reddit.rules import KeepRules, RuleChecker, created_epoch, dedupe_key, score_value
from jedi_academy.reddit.writer import CommentWriter
from jedi_academy.specializations.model import Specialization

CHUNK = 8 << 20
NEWLINE = ord("\n")
MAX_LINE = 256 << 20


class LineHandler(Protocol):
    """What ``scan`` hands each chunk to: the local ``Selector``, or the Spark engine's collector."""

    def process(self, buf: bytes, end: int, line: int, path: str) -> int: ...


class Selector:
    """Decides, for each candidate line, whether and where the comment is kept."""

    def __init__(
        self,
        specs: Iterable[Specialization],
        rules: KeepRules,
        pseudonymizer: Pseudonymizer,
        writer: CommentWriter,
        counts: IngestCounts,
        seen: dict[str, set[bytes]],
        warn: Callable[[str], None],
    ) -> None:
        self.sub_to_specs: dict[str, tuple[str, ...]] = {}
        for spec in specs:
            for key in spec.subreddit_keys:
                self.sub_to_specs[key] = (*self.sub_to_specs.get(key, ()), spec.id)
        self.prefilter = SubredditPrefilter(self.sub_to_specs)
        self.checker = RuleChecker(rules)
        self.dedupe = rules.dedupe_bodies
        self.pseudonymizer = pseudonymizer
        self.writer = writer
        self.counts = counts
        self.seen = seen
        self.warn = warn

    def process(self, buf: bytes, end: int, line: int, path: str) -> int:
        """Handle the complete lines in ``buf[:end]``; ``line`` lines of the file came before. Returns the
        number of lines of the file handled after this chunk."""
        for start, stop in self.prefilter.candidate_lines(buf, end):
            problem = self._candidate(buf[start:stop])
            if problem is not None:
                # Line numbers are only needed here, so only counted here.
                self._malformed(path, line + buf.count(b"\n", 0, start) + 1, problem)
        return line + count_newlines(buf, end)

    def _candidate(self, raw: bytes) -> str | None:
        """Handle one candidate line; return why it is malformed, if it is."""
        counts = self.counts
        try:
            comment = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return str(exc)
        if not isinstance(comment, dict):
            return f"a JSON {type(comment).__name__}, not an object"
        subreddit = comment.get("subreddit")
        targets = self.sub_to_specs.get(subreddit.lower()) if isinstance(subreddit, str) else None
        if not targets:
            counts.prefilter_false_positives += 1  # e.g. the name appears in a nested object
            return None
        counts.matched += 1
        reason = self.checker.reason_to_drop(comment)
        if reason is not None:
            counts.dropped[reason] += 1
            return None
        body: str = comment["body"]
        if self.dedupe:
            digest = self.pseudonymizer.body_digest(dedupe_key(body))
            targets = tuple(s for s in targets if digest not in self.seen[s])
            if not targets:
                counts.dropped["duplicate"] += 1
                return None
            for spec_id in targets:
                self.seen[spec_id].add(digest)
        row = to_row(comment, self.pseudonymizer)
        for spec_id in targets:
            self.writer.add(spec_id, row)
            counts.by_specialization[spec_id] += 1
        counts.kept += 1
        counts.by_subreddit[str(subreddit).lower()] += 1  # a str: it matched a specialization
        return None

    def _malformed(self, path: str, lineno: int, error: str) -> None:
        example = self.counts.add_malformed(path, lineno, error)
        if example is not None:
            self.warn(f"{path}: line {lineno:,} is not valid JSON ({example['error']}); skipped")


def to_row(comment: dict[str, Any], pseudonymizer: Pseudonymizer) -> tuple[object, ...]:
    """The stored row of a kept comment, in ``COMMENT_SCHEMA`` order: pseudonymised id and author, the
    subreddit as in the dump, the epoch, the score, the scrubbed body. Pure: the same comment and key give
    the same row in any process or engine."""
    return (
        pseudonymizer.comment_id(comment["id"]),
        pseudonymizer.author(comment.get("author")),
        comment["subreddit"],
        created_epoch(comment.get("created_utc")),
        score_value(comment.get("score")),
        scrub(comment["body"]),
    )


def count_newlines(buf: bytes, end: int) -> int:
    """Newlines in ``buf[:end]``; numpy compares 16 or 32 bytes at a time, twice as fast as bytes.count."""
    if end < 1 << 16:
        return buf.count(b"\n", 0, end)
    return int(np.count_nonzero(np.frombuffer(buf, dtype=np.uint8, count=end) == NEWLINE))


def scan(
    reader: DumpReader,
    selector: LineHandler,
    *,
    path: str,
    line: int,
    on_chunk: Callable[[int, int], None],
) -> tuple[int, int]:
    """Process ``reader`` from its current position to the end. ``on_chunk(offset, lines)`` runs after each
    chunk, with the decompressed offset just after the last complete line; it may raise to stop early.
    Returns the final (offset, lines). A :class:`DumpReadError` is re-raised with the line reached."""
    offset = reader.position
    tail = b""
    try:
        while data := reader.read(CHUNK):
            buf = tail + data if tail else data
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                if len(buf) > MAX_LINE:
                    raise AcademyError(
                        f"{path}: line {line + 1:,} is longer than {MAX_LINE >> 20} MiB",
                        "is this really newline-delimited JSON?",
                    )
                tail = buf
                continue
            line = selector.process(buf, cut, line, path)
            offset += cut
            tail = buf[cut:]
            on_chunk(offset, line)
    except DumpReadError as exc:
        raise exc.at_line(line) from None
    if tail.strip():
        line = selector.process(tail + b"\n", len(tail) + 1, line, path)
    offset += len(tail)
    on_chunk(offset, line)
    return offset, line
