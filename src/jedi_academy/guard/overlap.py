"""Word-level text overlap: normalised words, shingles, the longest shared word run, Jaccard similarity.

Shared by the privacy check (card against source comments), near-duplicate detection (card against card)
and the contamination guard (conversation text against instrument wording). Words are lower-cased runs of
letters and digits (apostrophes inside a word kept), so punctuation, case and spacing never hide a copy.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

Words = tuple[str, ...]

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


def words(text: str) -> Words:
    normalised = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    return tuple(_WORD.findall(normalised))


def shingles(tokens: Sequence[str], size: int) -> set[Words]:
    """Every run of ``size`` consecutive words (none when the text is shorter)."""
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def shingle_union(texts: Iterable[Sequence[str]], size: int) -> set[Words]:
    """Shingles of several texts; a shingle never spans two texts."""
    found: set[Words] = set()
    for tokens in texts:
        found |= shingles(tokens, size)
    return found


def longest_common_run(a: Sequence[Sequence[str]], b: Sequence[Sequence[str]]) -> int:
    """Length of the longest word sequence found both in one text of ``a`` and in one text of ``b``.

    A shared run of n words contains shared runs of every shorter length, so a binary search over n needs
    only O(log n) passes over the words.
    """
    low, high = 0, min(max((len(t) for t in a), default=0), max((len(t) for t in b), default=0))
    while low < high:
        middle = (low + high + 1) // 2
        wanted = shingle_union(a, middle)
        if any(shingle in wanted for tokens in b for shingle in _iter_shingles(tokens, middle)):
            low = middle
        else:
            high = middle - 1
    return low


def _iter_shingles(tokens: Sequence[str], size: int) -> Iterable[Words]:
    return (tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def shared_share(a: Sequence[Sequence[str]], b: Sequence[Sequence[str]], size: int) -> float:
    """The share of ``a``'s ``size``-word shingles that also occur in ``b`` (0 when ``a`` has none)."""
    mine = shingle_union(a, size)
    if not mine:
        return 0.0
    theirs = shingle_union(b, size)
    return len(mine & theirs) / len(mine)


def jaccard(a: set[Words], b: set[Words]) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)
