"""What a run counted, and the ``--json`` summary made from it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jedi_academy.reddit.rules import REASONS

SUMMARY_KEYS = (
    "lines_read",
    "malformed",
    "matched",
    "kept",
    "dropped",
    "by_subreddit",
    "by_specialization",
    "authors",
    "seconds",
)
MALFORMED_EXAMPLES = 5


@dataclass
class IngestCounts:
    lines_read: int = 0
    malformed: int = 0  # prefilter candidates that are not valid JSON objects
    matched: int = 0  # parsed, and the subreddit belongs to a selected specialization
    kept: int = 0  # comments kept in at least one specialization
    dropped: Counter[str] = field(default_factory=Counter)  # first failed rule -> comments
    by_subreddit: Counter[str] = field(default_factory=Counter)  # lower-case -> kept comments
    by_specialization: Counter[str] = field(default_factory=Counter)  # rows written per specialization
    prefilter_false_positives: int = 0  # candidates whose top-level subreddit did not match after all
    malformed_examples: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)  # per input: lines, bytes, decoder, complete

    def add_malformed(self, path: str, line: int, error: str) -> dict[str, Any] | None:
        """Count one; return it as an example while fewer than ``MALFORMED_EXAMPLES`` were kept."""
        self.malformed += 1
        if len(self.malformed_examples) >= MALFORMED_EXAMPLES:
            return None
        example = {"file": path, "line": line, "error": error[:200]}
        self.malformed_examples.append(example)
        return example

    def summary(
        self, spec_ids: list[str], subreddits: list[str], authors: int, seconds: float
    ) -> dict[str, Any]:
        """Exactly the keys of ``academy ingest --json``."""
        return {
            "lines_read": self.lines_read,
            "malformed": self.malformed,
            "matched": self.matched,
            "kept": self.kept,
            "dropped": {reason: self.dropped.get(reason, 0) for reason in REASONS},
            "by_subreddit": {name: self.by_subreddit.get(name, 0) for name in sorted(subreddits)},
            "by_specialization": {spec_id: self.by_specialization.get(spec_id, 0) for spec_id in spec_ids},
            "authors": authors,
            "seconds": round(seconds, 3),
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "lines_read": self.lines_read,
            "malformed": self.malformed,
            "matched": self.matched,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "by_subreddit": dict(self.by_subreddit),
            "by_specialization": dict(self.by_specialization),
            "prefilter_false_positives": self.prefilter_false_positives,
            "malformed_examples": self.malformed_examples,
            "files": self.files,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IngestCounts:
        return cls(
            lines_read=state["lines_read"],
            malformed=state["malformed"],
            matched=state["matched"],
            kept=state["kept"],
            dropped=Counter(state["dropped"]),
            by_subreddit=Counter(state["by_subreddit"]),
            by_specialization=Counter(state["by_specialization"]),
            prefilter_false_positives=state["prefilter_false_positives"],
            malformed_examples=list(state["malformed_examples"]),
            files=list(state["files"]),
        )
