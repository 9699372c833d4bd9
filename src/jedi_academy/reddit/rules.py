"""Keep rules: which matched comments enter the corpus. Each rejected comment is counted under the first
rule it fails, in the order of ``REASONS``."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jedi_academy.reddit.scrubbing import unescape_reddit

MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

REASONS = (
    # not a comment object: no id, body or created_utc of the right type, or an integer out of range
    "invalid_record",
    "deleted_body",
    "removed_body",
    "empty_body",
    "excluded_author",
    "distinguished",
    "too_short",
    "duplicate",  # counted by the pipeline: duplicates are per specialization
)


class KeepRules(BaseModel):
    """The configurable rules (``academy ingest --rules FILE`` reads these fields from YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deleted_markers: tuple[str, ...] = Field(default=("[deleted]",), description="bodies of deleted comments")
    removed_markers: tuple[str, ...] = Field(
        default=("[removed]",), description="bodies removed by moderators"
    )
    excluded_authors: tuple[str, ...] = Field(
        default=("AutoModerator",), description="bots, case-insensitive"
    )
    drop_distinguished: bool = Field(default=True, description="drop comments with a 'distinguished' value")
    min_body_chars: int = Field(default=20, ge=0, description="shortest stripped body kept, in characters")
    dedupe_bodies: bool = Field(
        default=True, description="keep the first of identical bodies per specialization"
    )

    def excluded_author_keys(self) -> frozenset[str]:
        return frozenset(name.lower() for name in self.excluded_authors)


class RuleChecker:
    """Applies the per-comment rules (everything except duplicates) to a parsed comment."""

    def __init__(self, rules: KeepRules) -> None:
        self.rules = rules
        self._deleted = frozenset(rules.deleted_markers)
        self._removed = frozenset(rules.removed_markers)
        self._excluded = rules.excluded_author_keys()

    def reason_to_drop(self, comment: dict[str, Any]) -> str | None:
        body = comment.get("body")
        if not isinstance(body, str) or not isinstance(comment.get("id"), str):
            return "invalid_record"
        if created_epoch(comment.get("created_utc")) is None or _score_out_of_range(comment.get("score")):
            return "invalid_record"
        if body in self._deleted:
            return "deleted_body"
        if body in self._removed:
            return "removed_body"
        stripped = body.strip()
        if not stripped:
            return "empty_body"
        author = comment.get("author")
        if isinstance(author, str) and author.lower() in self._excluded:
            return "excluded_author"
        if self.rules.drop_distinguished and comment.get("distinguished") is not None:
            return "distinguished"
        if len(stripped) < self.rules.min_body_chars:
            return "too_short"
        return None


def dedupe_key(body: str) -> str:
    """Bodies are duplicates when equal after decoding Reddit's HTML escapes, Unicode NFC normalisation,
    case folding, and collapsing whitespace runs to one space (stripped)."""
    text = unicodedata.normalize("NFC", unescape_reddit(body)).casefold()
    return " ".join(text.split())  # split() splits on the same Unicode whitespace as \s


def created_epoch(value: Any) -> int | None:
    """``created_utc`` is a quoted epoch in the 2015 dumps and an integer from December 2015 on. ``None``
    unless it is a whole number of seconds from 1970 to the end of year 9999 (what a timestamp column and
    Python's datetime hold)."""
    if isinstance(value, bool):
        return None
    epoch: int | None = None
    if isinstance(value, int):
        epoch = value
    elif isinstance(value, float):
        epoch = int(value) if math.isfinite(value) else None
    elif isinstance(value, str) and len(value) <= 32:
        try:
            epoch = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return None
            epoch = int(number) if math.isfinite(number) else None
    if epoch is None or not 0 <= epoch <= MAX_EPOCH:
        return None
    return epoch


def score_value(value: Any) -> int | None:
    """``score`` as stored: an int64, or null when absent or not an integer. A value beyond int64 is not a
    Reddit score: :meth:`RuleChecker.reason_to_drop` rejects such a record."""
    if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return value
    return None


def _score_out_of_range(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX
