"""Which authors become personas, and which of their comments the model reads.

An author qualifies with enough comments and words. Qualifying authors are ordered for diversity: grouped
by the subreddit they write in most, shuffled (seeded) within each group, then taken round-robin across
groups, so a run of ten personas does not come from ten regulars of one forum. Authors who already have a
persona in the specialization are skipped: one persona per author.

The model sees comments under local labels (C1, C2, ...), never Reddit comment ids, which would lead back to
the original comment; labels are mapped back to ids for provenance after validation.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Protocol

from jedi_academy.guard.overlap import words


class CommentLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def subreddit(self) -> str: ...


class BundleLike(Protocol):
    """What persona generation needs of an author bundle (``jedi_academy.reddit.AuthorBundle`` fits)."""

    @property
    def author(self) -> str: ...
    @property
    def comments(self) -> Sequence[CommentLike]: ...


@dataclass(frozen=True)
class SelectionRules:
    min_comments: int = 3  # an author needs this many kept comments
    min_words: int = 150  # and this many words across them
    max_comments: int = 20  # comments shown to the model per persona (the wordiest, in time order)
    max_comment_words: int = 200  # longer comments are cut to this many words
    max_prompt_words: int = 2500  # word budget of all shown comments together


@dataclass(frozen=True)
class SourceComment:
    label: str  # what the model sees and cites
    comment_id: str  # provenance only
    text: str  # scrubbed body, possibly shortened


@dataclass(frozen=True)
class Candidate:
    author: str
    subreddits: tuple[str, ...]  # provenance only: for the identifier check
    comments: tuple[SourceComment, ...]

    @property
    def labels(self) -> dict[str, str]:
        return {c.label: c.comment_id for c in self.comments}


def word_count(bundle: BundleLike) -> int:
    return sum(len(words(c.body)) for c in bundle.comments)


def eligible(bundle: BundleLike, rules: SelectionRules) -> bool:
    return len(bundle.comments) >= rules.min_comments and word_count(bundle) >= rules.min_words


def order_for_diversity(bundles: Iterable[BundleLike], seed: int) -> list[BundleLike]:
    rng = random.Random(seed)
    groups: dict[str, list[BundleLike]] = defaultdict(list)
    for bundle in bundles:
        forums = Counter(c.subreddit.casefold() for c in bundle.comments).most_common(1)
        groups[forums[0][0] if forums else ""].append(bundle)
    keys = sorted(groups)
    rng.shuffle(keys)
    for key in keys:
        groups[key].sort(key=lambda b: b.author)
        rng.shuffle(groups[key])
    rounds = zip_longest(*(groups[key] for key in keys))
    return [bundle for round_ in rounds for bundle in round_ if bundle is not None]


def candidates(
    bundles: Iterable[BundleLike],
    rules: SelectionRules,
    *,
    exclude_authors: Iterable[str] = (),
    seed: int = 0,
) -> Iterator[Candidate]:
    """Eligible, not yet used authors in diversity order, each with the comments to show (built lazily:
    a run usually needs only the first few)."""
    excluded = set(exclude_authors)
    usable = [b for b in bundles if b.author not in excluded and eligible(b, rules)]
    return (to_candidate(bundle, rules) for bundle in order_for_diversity(usable, seed))


def to_candidate(bundle: BundleLike, rules: SelectionRules) -> Candidate:
    order = {id(c): i for i, c in enumerate(bundle.comments)}
    wordiest = sorted(bundle.comments, key=lambda c: (-len(words(c.body)), order[id(c)]))
    chosen: list[tuple[int, CommentLike, str]] = []
    budget = rules.max_prompt_words
    for comment in wordiest[: rules.max_comments]:
        limit = min(rules.max_comment_words, budget)
        text = shorten(comment.body, limit)
        if not text:
            break
        chosen.append((order[id(comment)], comment, text))
        budget -= min(limit, len(comment.body.split()))
    chosen.sort(key=lambda entry: entry[0])
    shown = tuple(
        SourceComment(label=f"C{n}", comment_id=comment.id, text=text)
        for n, (_, comment, text) in enumerate(chosen, start=1)
    )
    subreddits = tuple(sorted({c.subreddit for c in bundle.comments}))
    return Candidate(author=bundle.author, subreddits=subreddits, comments=shown)


def shorten(text: str, max_words: int) -> str:
    """At most ``max_words`` whitespace-separated words, marked with an ellipsis when cut."""
    parts = " ".join(text.split()).split(" ")
    if max_words <= 0 or not parts[0]:
        return ""
    if len(parts) <= max_words:
        return " ".join(parts)
    return " ".join(parts[:max_words]) + " ..."
