"""What to erase: authors and comments, as the keyed pseudonyms ingest stores (never the usernames or ids
themselves, which are hashed with the instance's key on the way in and then forgotten)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jedi_academy.errors import AcademyError

AUTHOR_PSEUDONYM = re.compile(r"[0-9a-f]{32}")
COMMENT_PSEUDONYM = re.compile(r"[0-9a-f]{24}")
USERNAME = re.compile(r"[A-Za-z0-9_-]{1,32}")  # Reddit's are 3 to 20; older accounts are shorter
REDDIT_ID = re.compile(r"[a-z0-9]{1,13}")  # base 36
LIST_HINT = "one entry per line: u/USERNAME for an author, t1_ID for a comment (# starts a comment)"


class Keyed(Protocol):
    def author(self, name: object) -> str | None: ...

    def comment_id(self, comment_id: str) -> str: ...


@dataclass(frozen=True)
class ErasureRequest:
    authors: frozenset[str] = frozenset()  # author pseudonyms
    comments: frozenset[str] = frozenset()  # comment-id pseudonyms

    def __bool__(self) -> bool:
        return bool(self.authors or self.comments)

    def merged(self, other: ErasureRequest) -> ErasureRequest:
        return ErasureRequest(self.authors | other.authors, self.comments | other.comments)


def author_pseudonym(value: str) -> str:
    """An author as ``--author`` names it: the pseudonym ingest stored (32 hex characters)."""
    wanted = value.strip().lower()
    if not AUTHOR_PSEUDONYM.fullmatch(wanted):
        raise AcademyError(
            f"--author {value!r} is not an author pseudonym (32 hex characters)",
            "a Reddit username goes in a removal list (--from-file) as u/USERNAME, hashed there",
        )
    return wanted


def comment_pseudonym(value: str, keyed: Keyed) -> str:
    """A comment as ``--comment`` names it: its stored pseudonym (24 hex characters), or the original Reddit
    id (``cnas8zv`` or ``t1_cnas8zv``), hashed with the instance's key."""
    wanted = value.strip()
    if COMMENT_PSEUDONYM.fullmatch(wanted.lower()):
        return wanted.lower()
    original = wanted[3:] if wanted.lower().startswith("t1_") else wanted
    if not REDDIT_ID.fullmatch(original.lower()):
        raise AcademyError(
            f"--comment {value!r} is neither a comment pseudonym (24 hex characters) nor a Reddit comment id"
        )
    return keyed.comment_id(original)


def read_removal_list(path: Path, keyed: Keyed) -> ErasureRequest:
    """A removal list (Reddit's deletion notices, a person's request): ``u/USERNAME`` or ``t1_ID`` per line,
    blank lines and ``#`` comments skipped. Each entry is hashed with the instance's key at once; a bad one
    is refused with the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AcademyError(f"cannot read the removal list {path}: {exc}") from exc
    authors: set[str] = set()
    comments: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        lowered = entry.lower()
        if lowered.startswith(("u/", "/u/")):
            name = entry.split("/")[-1]
            pseudonym = keyed.author(name) if USERNAME.fullmatch(name) else None
            if pseudonym is None:
                raise AcademyError(f"{path}:{number}: {entry!r} is not a Reddit username", LIST_HINT)
            authors.add(pseudonym)
        elif lowered.startswith("t1_") and REDDIT_ID.fullmatch(lowered[3:]):
            comments.add(keyed.comment_id(lowered[3:]))
        else:
            raise AcademyError(f"{path}:{number}: {entry!r} is neither u/USERNAME nor t1_ID", LIST_HINT)
    if not authors and not comments:
        raise AcademyError(f"the removal list {path} has no entries", LIST_HINT)
    return ErasureRequest(frozenset(authors), frozenset(comments))
