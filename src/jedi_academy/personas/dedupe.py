"""Near-duplicate personas: Jaccard similarity of the word shingles of two cards' trait texts.

Only what describes the person is compared (trait texts, symptom severities and the age band), not the
name, which a model may vary while writing the same person twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jedi_academy.guard.overlap import Words, jaccard, shingles, words
from jedi_academy.personas.card import AnyCard

DEFAULT_THRESHOLD = 0.5
SHINGLE_SIZE = 3


def card_shingles(card: AnyCard, size: int = SHINGLE_SIZE) -> set[Words]:
    found: set[Words] = {("age", card.age_band)}
    for text in card.texts()[1:]:  # not the name
        tokens = words(text)
        found |= shingles(tokens, size) if len(tokens) >= size else {tokens}
    found |= {("severity", *words(s.text), s.severity) for s in card.symptoms}
    return found


def card_similarity(a: AnyCard, b: AnyCard) -> float:
    return jaccard(card_shingles(a), card_shingles(b))


@dataclass
class NearDuplicateIndex:
    """The cards kept so far; ``nearest`` finds the most similar one to a new card."""

    threshold: float = DEFAULT_THRESHOLD
    _cards: dict[str, set[Words]] = field(default_factory=dict)

    def add(self, key: str, card: AnyCard) -> None:
        self._cards[key] = card_shingles(card)

    def nearest(self, card: AnyCard) -> tuple[str | None, float]:
        mine = card_shingles(card)
        best_key: str | None = None
        best = 0.0
        for key, theirs in self._cards.items():
            similarity = jaccard(mine, theirs)
            if best_key is None or similarity > best:
                best_key, best = key, similarity
        return best_key, best

    def is_duplicate(self, nearest: tuple[str | None, float]) -> bool:
        """Whether ``nearest`` (what :meth:`nearest` returned) makes the card a near-duplicate."""
        key, similarity = nearest
        return key is not None and similarity >= self.threshold

    def __len__(self) -> int:
        return len(self._cards)
