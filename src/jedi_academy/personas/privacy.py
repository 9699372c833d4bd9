"""Privacy checks on a generated card: it must not reproduce its author's wording or name where it came from.

Two measures against the author's comments (each trait is compared on its own, so a run never spans two
traits): the longest word run a trait shares with a comment, and the share of the card's n-word shingles
found in the comments. A card over either limit is rejected. Separately, a card must not mention Reddit, a
subreddit of the specialization, a source comment id, the author's pseudonym or a name the author uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from jedi_academy.guard.overlap import Words, longest_common_run, shared_share, words
from jedi_academy.personas.card import AnyCard


@dataclass(frozen=True)
class LeakLimits:
    """Defaults: no shared run of 8 or more words; at most 5% of the card's 8-word shingles shared.

    With the default run limit no 8-word shingle can be shared, so the share limit only bites once the
    run limit is relaxed: it then caps how much of the card may be copied in total.
    """

    max_common_run: int = 7
    shingle_size: int = 8
    max_shingle_share: float = 0.05


@dataclass(frozen=True)
class LeakReport:
    longest_common_run: int
    shingle_share: float
    shingle_size: int

    def violations(self, limits: LeakLimits) -> list[str]:
        found = []
        if self.longest_common_run > limits.max_common_run:
            found.append("common_run")
        if self.shingle_share > limits.max_shingle_share:
            found.append("shingle_share")
        return found

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def card_texts(card: AnyCard) -> list[str]:
    """Everything a card says in words: its name and each trait's text."""
    return card.texts()


def leak_report(card: AnyCard, sources: Iterable[str], limits: LeakLimits | None = None) -> LeakReport:
    limits = limits or LeakLimits()
    mine = [words(text) for text in card_texts(card)]
    theirs: Sequence[Words] = [words(text) for text in sources]
    return LeakReport(
        longest_common_run=longest_common_run(mine, theirs),
        shingle_share=round(shared_share(mine, theirs, limits.shingle_size), 4),
        shingle_size=limits.shingle_size,
    )


# Subreddit names that are also the ordinary word for a condition may appear in a card.
_ORDINARY_NAMES = frozenset(
    {
        "addiction", "adhd", "alcoholism", "anxiety", "aspergers", "autism", "bipolar", "bpd", "cptsd",
        "depression", "lonely", "narcissism", "npd", "ocd", "ptsd", "schizophrenia",
    }
)  # fmt: skip
_CAPITALISED = re.compile(r"\b[A-Z][^\W\d_]+")
_REDDIT = re.compile(r"\breddit\b|\bsubreddits?\b|(?<![\w/])/?r/\w+|\[(?:user|subreddit)\]", re.IGNORECASE)


def identifier_problems(
    card: AnyCard,
    *,
    author: str,
    comment_ids: Iterable[str],
    subreddits: Iterable[str],
    sources: Iterable[str] = (),
) -> list[str]:
    """Kinds of source identifiers the card's text contains (empty when clean); never the values.

    ``sources``: the author's comments; a card name that they use as a proper noun (capitalised) may be the
    author's own name or someone they know, so it counts as ``source_name``.
    """
    text = "\n".join(card_texts(card))
    folded = text.casefold()
    tokens = set(words(text))
    problems = []
    if _REDDIT.search(text):
        problems.append("reddit_mention")
    distinctive = {name.casefold() for name in subreddits} - _ORDINARY_NAMES
    if distinctive & tokens:
        problems.append("subreddit_name")
    if any(comment_id.casefold() in tokens for comment_id in comment_ids):
        problems.append("comment_id")
    if author and author.casefold() in folded:
        problems.append("author_pseudonym")
    proper_nouns = {w.casefold() for source in sources for w in _CAPITALISED.findall(source)}
    if any(len(w) >= 3 and w in proper_nouns for w in words(card.name)):
        problems.append("source_name")
    return problems
